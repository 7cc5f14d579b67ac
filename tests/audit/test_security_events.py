"""Security events (SPEC 3.10): login failures, lockouts, throttles, resets, credential and address
changes, registration failures and locks, re-registrations and every view or download of a
statement are written as structured log events (JSON, with the account, the client address and
the request id; never a card number, password, link or code), and the ones about an account are
kept for the member's page in the back office."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from pythonjsonlogger.json import JsonFormatter

from meisai.accounts.models import Account
from meisai.audit.models import SecurityEvent
from meisai.audit.security_events import KINDS, security_event
from meisai.clock import JST
from meisai.core.logging import RequestIdFilter, SensitiveDataFilter
from meisai.notifications.models import OutboxMessage
from tests.backoffice.conftest import roles_present, second_factor_passed
from tests.factories import AccountFactory, UsageLineFactory
from tests.notifications import flows
from tests.notifications.flows import CARD_NUMBER, EMAIL, NEW_PASSWORD, PASSWORD, queued
from tests.statements.cycle import close, publish

pytestmark = pytest.mark.django_db

MONTH = "2025-04"
MEMBER_ADDRESS = "198.51.100.7"
ATTACKER = "203.0.113.66"


def _secrets_of_the_outbox() -> list[str]:
    """Every link token and code the outbox holds (sealed bodies are opened by ``body_text``)."""
    found = []
    for message in OutboxMessage.objects.all():
        found += re.findall(
            r"/(?:identity|complete|reset|confirm|takeover)/([^/\s]+)/", message.body_text
        )
        found += re.findall(r"確認コード:(\d{6})", message.body_text)
    return found


def _a_month_of_a_member_s_life() -> Account:
    """Registration with a phone typo, logins (one failed, a wrong code), the statement viewed
    and downloaded, changes, a reset, a lockout and a throttle by someone else, and a
    re-registration by someone else."""
    member = flows.cardholder()
    browser = Client(REMOTE_ADDR=MEMBER_ADDRESS)
    # A phone typo first: the member's registration attempts show it.
    assert browser.post("/register/", {"agree": "on"}).status_code == 302
    browser.post("/register/email/", {"email": EMAIL, "email_confirm": EMAIL})
    identity = flows.link_in(queued("registration_link", EMAIL))
    typo = browser.post(
        identity,
        {
            "card_number": CARD_NUMBER,
            "card_expiry": "12/29",
            "birth_date": flows.BIRTH_DATE.isoformat(),
            "phone": "09000000000",
            "login_id": flows.LOGIN_ID,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "personal_message": "岩手山が見える",
        },
    )
    assert "電話番号が当社にご登録の電話番号と一致しません" in typo.content.decode()
    flows.register(Client(REMOTE_ADDR=MEMBER_ADDRESS), queued)
    account = Account.objects.get(login_id=flows.LOGIN_ID)
    # A wrong password, then a wrong code, then in.
    browser = Client(REMOTE_ADDR=MEMBER_ADDRESS)
    browser.post("/login/", {"username": flows.LOGIN_ID, "password": "wrong-pass-1"})
    browser.post("/login/", {"username": flows.LOGIN_ID, "password": PASSWORD})
    browser.post("/login/code/", {"code": "000000"})
    code = flows.code_in(queued("login_code", EMAIL))
    assert browser.post("/login/code/", {"code": code}).status_code == 302
    # The statement: viewed, as PDF, as CSV.
    UsageLineFactory(member=member, billing_month=MONTH)
    close(MONTH)
    publish(MONTH)
    assert browser.get(f"/statements/{MONTH}/").status_code == 200
    assert browser.get(f"/statements/{MONTH}.pdf").status_code == 200
    assert browser.get(f"/statements/{MONTH}.csv").status_code == 200
    # Changes of お客様情報.
    flows.personal_message_change(browser, password=PASSWORD)
    flows.password_change(browser, current=PASSWORD, new=NEW_PASSWORD)
    flows.email_change(browser, queued, password=NEW_PASSWORD, new_email="hanako.new@example.jp")
    # A reset, and the forgotten-ID reminder.
    flows.password_reset(Client(REMOTE_ADDR=MEMBER_ADDRESS), queued, email="hanako.new@example.jp")
    flows.forgot_id(Client(REMOTE_ADDR=MEMBER_ADDRESS), "hanako.new@example.jp")
    # Someone else hammers the ID until it locks, then is throttled.
    attacker = Client(REMOTE_ADDR=ATTACKER)
    flows.lock_out(attacker)
    for _ in range(11):
        flows.forgot_id(attacker, "guess@example.jp")
    # A re-registration from another address waits for the owner.
    flows_reregister_pending(Client(REMOTE_ADDR=ATTACKER))
    return account


def flows_reregister_pending(client: Client) -> None:
    email = "someone.else@example.jp"
    assert client.post("/register/", {"agree": "on"}).status_code == 302
    client.post("/register/email/", {"email": email, "email_confirm": email})
    identity = flows.link_in(queued("registration_link", email))
    response = client.post(
        identity,
        {
            "card_number": CARD_NUMBER,
            "card_expiry": "12/29",
            "birth_date": flows.BIRTH_DATE.isoformat(),
            "phone": flows.MOBILE_PHONE,
            "login_id": "taken.over",
            "password": "another-secret-42",
            "password_confirm": "another-secret-42",
            "personal_message": "なりすまし",
        },
    )
    assert response.status_code == 302
    client.post("/register/confirm/")
    flows.follow(client, flows.link_in(queued("registration_completion_link", email)))


@time_machine.travel(dt.datetime(2025, 4, 20, 10, 0, tzinfo=JST), tick=False)
def test_each_event_of_an_account_is_logged_as_json_and_kept_for_its_member(caplog):
    with caplog.at_level(logging.INFO, logger="meisai.security"):
        account = _a_month_of_a_member_s_life()

    kept = SecurityEvent.objects.filter(member=account.member)
    assert set(kept.values_list("kind", flat=True)) >= {
        "registration_failed",
        "account_registered",
        "login_failed",
        "login_code_failed",
        "login",
        "statement_viewed",
        "statement_pdf",
        "statement_csv",
        "personal_message_changed",
        "password_changed",
        "email_change_requested",
        "email_changed",
        "password_reset_requested",
        "password_reset",
        "login_id_reminder",
        "account_locked",
        "reregistration_held",
    }
    assert kept.get(kind="registration_failed").detail == {"reason": "phone"}
    assert kept.get(kind="statement_pdf").detail == {"month": MONTH}
    assert set(kept.filter(kind="login_failed").values_list("client", flat=True)) == {
        MEMBER_ADDRESS,
        ATTACKER,
    }
    assert all(len(event.request_id) == 32 for event in kept)

    # Every line, formatted as production formats it: JSON with the event, account, client
    # and request id; no card number, password, link or code anywhere in it.
    formatter = JsonFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s")
    secrets = [CARD_NUMBER, PASSWORD, NEW_PASSWORD, "another-secret-42", *_secrets_of_the_outbox()]
    lines = []
    for record in caplog.records:
        if record.name != "meisai.security":
            continue
        assert RequestIdFilter().filter(record) and SensitiveDataFilter().filter(record)
        line = json.loads(formatter.format(record))
        lines.append(line)
        assert {"event", "login_id", "client", "request_id"} <= set(line)
        raw = str(vars(record))
        assert [s for s in secrets if s in raw] == [], line
    events = {line["event"] for line in lines}
    assert events >= set(kept.values_list("kind", flat=True))
    assert {"login_failed", "throttled", "statement_viewed", "account_locked"} <= events
    failed = next(line for line in lines if line["event"] == "login_failed")
    assert (failed["login_id"], failed["client"]) == (flows.LOGIN_ID, MEMBER_ADDRESS)


def test_a_failed_login_for_an_unknown_id_is_logged_but_kept_for_nobody(client, caplog):
    with caplog.at_level(logging.INFO, logger="meisai.security"):
        client.post("/login/", {"username": "nobody.here", "password": "x"})
    (line,) = [r for r in caplog.records if r.name == "meisai.security"]
    assert (line.event, line.login_id, line.member_id) == ("login_failed", "nobody.here", None)
    assert SecurityEvent.objects.count() == 0


def test_an_unknown_kind_is_a_programming_error(db):
    with pytest.raises(ValueError, match="unknown security event"):
        security_event("something_else")


@time_machine.travel(dt.datetime(2025, 4, 20, 10, 0, tzinfo=JST), tick=False)
def test_staff_see_the_events_on_the_member_s_page():
    account = _a_month_of_a_member_s_life()
    roles_present()  # the migrations' groups, if a transactional test of this process flushed them
    operator = AccountFactory(
        login_id="op-sato", member=None, email="", is_staff=True, source=Account.Source.STAFF
    )
    operator.groups.add(Group.objects.get(name="operator"))
    staff = Client()
    staff.force_login(operator, backend="django.contrib.auth.backends.ModelBackend")
    second_factor_passed(staff, operator)
    page = staff.get(f"/backoffice/admin/members/member/{account.member.pk}/change/")
    text = page.content.decode()
    assert page.status_code == 200
    for label in (
        "ログイン失敗",
        "明細PDFのダウンロード",
        "再登録(切替待ち)",
        KINDS["account_locked"],
    ):
        assert label in text
    assert ATTACKER in text
    assert CARD_NUMBER not in text
