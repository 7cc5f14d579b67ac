"""Staff lift a member's login or registration lock on request, with a reason (SPEC 3.4, 3.5)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from meisai.audit.models import AuditEntry
from tests.accounts.conftest import FACTORY_PASSWORD, identity, start_registration

pytestmark = pytest.mark.django_db

LOCKED = "このカードでの登録手続きは、入力誤りが続いたため24時間停止しています。"


def _unlock(*args: str) -> str:
    out = io.StringIO()
    call_command("unlock", *args, "--actor", "op-sato", stdout=out)
    return out.getvalue()


def test_a_lifted_login_lock_lets_the_member_in_at_once(client, account, frozen):
    for _ in range(10):
        client.post("/login/", {"username": "kitakami.jiro", "password": "wrong-password"})
    locked = client.post("/login/", {"username": "kitakami.jiro", "password": FACTORY_PASSWORD})
    assert locked.status_code == 200  # the generic answer: still locked

    said = _unlock("login", "Kitakami.Jiro", "--reason", "ご本人から電話(本人確認済み)")

    assert said == "Kitakami.Jiro: lock lifted (1 failure record(s) cleared)\n"
    entry = AuditEntry.objects.get(action="account_login_unlock")
    assert (entry.actor, entry.member_id, entry.detail) == (
        "op-sato",
        account.member_id,
        {"login_id": "kitakami.jiro", "reason": "ご本人から電話(本人確認済み)", "cleared": 1},
    )
    opened = client.post("/login/", {"username": "kitakami.jiro", "password": FACTORY_PASSWORD})
    assert opened.url == "/login/code/"


def test_a_lifted_registration_lock_lets_the_cardholder_register_again(
    client: Any, cardholder: Any, frozen: Any
):
    identity_path = start_registration(client)
    for _ in range(5):
        client.post(identity_path, identity(card_expiry="01/30"))
    assert LOCKED in client.post(identity_path, identity()).content.decode()

    said = _unlock("registration", cardholder.member.member_no, "--reason", "窓口で本人確認")

    assert said == f"{cardholder.member.member_no}: lock lifted (5 failure record(s) cleared)\n"
    entry = AuditEntry.objects.get(action="registration_unlock")
    assert (entry.actor, entry.member_id, entry.detail) == (
        "op-sato",
        cardholder.member.pk,
        {"reason": "窓口で本人確認", "cleared": 5},
    )
    assert client.post(identity_path, identity()).url == "/register/confirm/"


def test_no_lock_is_lifted_without_a_reason(account):
    with pytest.raises(CommandError, match="^a lock is lifted only with a reason"):
        _unlock("login", "kitakami.jiro", "--reason", "  ")
    with pytest.raises(CommandError, match="^no web account has the login ID 'nobody.here'$"):
        _unlock("login", "nobody.here", "--reason", "電話")
    assert not AuditEntry.objects.exists()
