"""Every change of an account's state writes its audit row (SPEC 3.10), in the transaction of the
change: registration, password change and reset, email change asked and confirmed, personal
message, lockout. The actor is the member's login ID; no row holds a password, hash, token, link,
code or card number. A refused change writes none."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from meisai.accounts.models import AccountToken
from meisai.audit.models import AuditEntry
from meisai.clock import JST
from tests.accounts.conftest import CARD_NUMBER, link_in, log_in, outbox, register

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "ichinoseki-2025-haru"
AT = dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST)


@pytest.fixture
def member_client(frozen: Any, member_client: Client) -> Client:
    """Logged in at the frozen moment, so every row of these tests has the same time."""
    return member_client


def audit_rows() -> list[tuple[dt.datetime, str, str, int | None, dict[str, Any]]]:
    """Every account row of the trail, oldest first: (at, action, actor, member id, detail)."""
    return [
        (row.at, row.action, row.actor, row.member_id, row.detail)
        for row in AuditEntry.objects.filter(action__startswith="account_").order_by("id")
    ]


def test_registration_audits_the_new_account(client, cardholder, frozen):
    register(client)
    assert audit_rows() == [
        (
            AT,
            "account_register",
            "morioka.hanako",
            cardholder.member.pk,
            {"replaced": [], "delivery": "web"},
        )
    ]


def test_password_change_audits_the_sessions_it_ended(member_client, account):
    other = Client()
    log_in(other, "kitakami.jiro", PASSWORD, "jiro@example.jp")
    response = member_client.post(
        "/account/password/",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert response.url == "/account/"
    assert audit_rows() == [
        (AT, "account_password_change", "kitakami.jiro", account.member_id, {"sessions_ended": 1})
    ]


def test_refused_password_change_writes_no_audit_row(member_client, account):
    page = member_client.post(
        "/account/password/",
        {"current_password": "wrong", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert "現在のパスワードが正しくありません。" in page.content.decode()
    assert AuditEntry.objects.count() == 0


def test_password_reset_audits_once_the_new_password_is_set(client, account, frozen):
    old_browser = Client()
    log_in(old_browser, "kitakami.jiro", PASSWORD, "jiro@example.jp")
    client.post("/login/forgot-password/", {"card_number": CARD_NUMBER, "birth_date": "1950-02-03"})
    assert AuditEntry.objects.count() == 0  # asking for the link changes nothing
    path = link_in(outbox("jiro@example.jp", "password_reset")[0])
    assert client.post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}).url == (
        "/login/"
    )
    assert audit_rows() == [
        (
            AT,
            "account_password_reset",
            "kitakami.jiro",
            account.member_id,
            {"sessions_ended": 1, "browsers_forgotten": 1},
        )
    ]


def test_refused_password_reset_writes_no_audit_row(client, account, frozen):
    client.post("/login/forgot-password/", {"card_number": CARD_NUMBER, "birth_date": "1950-02-03"})
    path = link_in(outbox("jiro@example.jp", "password_reset")[0])
    page = client.post(path, {"password": "short", "password_confirm": "short"})
    assert "最低 8 文字" in page.content.decode()
    frozen.shift(dt.timedelta(hours=24))
    expired = client.post(path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert expired.status_code == 404
    assert AuditEntry.objects.count() == 0


def test_email_change_audits_the_request_and_the_confirmation(member_client, account, frozen):
    member_client.post(
        "/account/email/",
        {
            "email": "jiro.new@example.jp",
            "email_confirm": "jiro.new@example.jp",
            "current_password": PASSWORD,
        },
    )
    path = link_in(outbox("jiro.new@example.jp", "email_change_confirm")[0])
    frozen.shift(dt.timedelta(hours=1))
    assert Client().get(path).status_code == 200
    assert len(audit_rows()) == 1  # opening the link changes nothing
    assert Client().post(path).status_code == 200
    assert audit_rows() == [
        (
            AT,
            "account_email_change_request",
            "kitakami.jiro",
            account.member_id,
            {"new_email": "jiro.new@example.jp"},
        ),
        (
            AT + dt.timedelta(hours=1),
            "account_email_change",
            "kitakami.jiro",
            account.member_id,
            {"old_email": "jiro@example.jp", "new_email": "jiro.new@example.jp"},
        ),
    ]


def test_refused_email_change_writes_no_audit_row(member_client, account):
    page = member_client.post(
        "/account/email/",
        {"email": "x@example.jp", "email_confirm": "x@example.jp", "current_password": "nope"},
    )
    assert "現在のパスワードが正しくありません。" in page.content.decode()
    assert AuditEntry.objects.count() == 0


def test_an_expired_email_link_writes_no_change_row(member_client, account, frozen):
    member_client.post(
        "/account/email/",
        {"email": "x@example.jp", "email_confirm": "x@example.jp", "current_password": PASSWORD},
    )
    path = link_in(outbox("x@example.jp", "email_change_confirm")[0])
    frozen.shift(dt.timedelta(hours=24))
    assert Client().post(path).status_code == 404
    assert [action for _, action, *_ in audit_rows()] == ["account_email_change_request"]
    assert AccountToken.objects.get().used_at is None


def test_personal_message_change_audits_without_the_message(member_client, account):
    member_client.post(
        "/account/message/", {"personal_message": "遠野のかっぱ", "current_password": PASSWORD}
    )
    assert audit_rows() == [
        (AT, "account_personal_message_change", "kitakami.jiro", account.member_id, {})
    ]


def test_refused_personal_message_change_writes_no_audit_row(member_client, account):
    page = member_client.post(
        "/account/message/", {"personal_message": "あ" * 21, "current_password": PASSWORD}
    )
    assert "20 文字以下" in page.content.decode()
    assert AuditEntry.objects.count() == 0


def test_lockout_is_audited_once_when_the_member_is_told(client, account, frozen):
    for _ in range(10):
        client.post("/login/", {"username": "kitakami.jiro", "password": "wrong-password"})
    client.post("/login/", {"username": "kitakami.jiro", "password": PASSWORD})  # still locked
    assert len(outbox("jiro@example.jp", "account_locked")) == 1
    assert audit_rows() == [
        (
            AT,
            "account_locked",
            "kitakami.jiro",
            account.member_id,
            {"until": "2025-01-10T10:30:00+09:00"},
        )
    ]


def test_failures_short_of_a_lockout_write_no_audit_row(client, account):
    for _ in range(9):
        client.post("/login/", {"username": "kitakami.jiro", "password": "wrong-password"})
    assert AuditEntry.objects.count() == 0


def test_no_audit_row_holds_a_secret(client, member_client, account, frozen):
    """Walk every audited change, then look for anything secret in the trail."""
    member_client.post(
        "/account/email/",
        {"email": "x@example.jp", "email_confirm": "x@example.jp", "current_password": PASSWORD},
    )
    email_link = link_in(outbox("x@example.jp", "email_change_confirm")[0])
    Client().post(email_link)
    member_client.post(
        "/account/password/",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    member_client.post(
        "/account/message/", {"personal_message": "遠野のかっぱ", "current_password": NEW_PASSWORD}
    )
    anonymous = Client()
    anonymous.post(
        "/login/forgot-password/", {"card_number": CARD_NUMBER, "birth_date": "1950-02-03"}
    )
    reset_link = link_in(outbox("x@example.jp", "password_reset")[0])
    anonymous.post(reset_link, {"password": "hiraizumi-2025", "password_confirm": "hiraizumi-2025"})
    for _ in range(10):
        anonymous.post("/login/", {"username": "kitakami.jiro", "password": "wrong-password"})
    account.refresh_from_db()
    assert len(audit_rows()) == 6
    trail = repr(audit_rows())
    secrets = (
        PASSWORD,
        NEW_PASSWORD,
        "hiraizumi-2025",
        account.password,
        CARD_NUMBER,
        CARD_NUMBER[-4:],
        email_link.rstrip("/").rsplit("/", 1)[-1],
        reset_link.rstrip("/").rsplit("/", 1)[-1],
        "遠野のかっぱ",
    )
    for secret in secrets:
        assert secret not in trail
