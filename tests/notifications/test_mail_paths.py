"""Every path that sends mail, run as production runs it: outside a test transaction, each
request or service call in autocommit, the sender running after every commit (SPEC 3.4–3.6).

On PostgreSQL the outbox stores mail by COPY through a temporary table that is dropped at
commit; in autocommit that commit came with the CREATE, so ``/login/forgot-id/`` answered 500
for a registered address (and 200 for an unknown one) and the confirmation-day alert to the
operators failed. These tests run on SQLite too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from django.db import connection
from django.test import Client

from meisai.accounts.models import Account
from meisai.clock import JST
from meisai.notifications.models import OutboxMessage
from meisai.notifications.services import Email, email_enqueue, email_enqueue_many
from meisai.statements.publish import confirmation_day_run
from tests.factories import AccountFactory, UsageLineFactory
from tests.notifications import flows
from tests.notifications.flows import EMAIL, NEW_PASSWORD, PASSWORD, delivered, delivered_of
from tests.statements.cycle import close, publish

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _as_production(settings):
    # Production has no demo outbox: secret bodies are wiped once sent.
    settings.MEISAI_DEMO_OUTBOX = False
    settings.MEISAI_OPERATOR_EMAILS = ["ops1@issuer.example.jp", "ops2@issuer.example.jp"]
    assert connection.get_autocommit(), "these tests must run outside a transaction"


def _account() -> Account:
    account = AccountFactory(member=flows.cardholder(), login_id=flows.LOGIN_ID, email=EMAIL)
    account.set_password(PASSWORD)
    account.save()
    return account


def _logged_in() -> Client:
    _account()
    client = Client()
    flows.log_in(client, delivered)
    return client


def _registration() -> set[str]:
    flows.cardholder()
    flows.register(Client(), delivered)
    return {"registration_link", "registration_completion_link", "registration_completed"}


def _re_registration() -> set[str]:
    _account()
    flows.reregister(
        Client(), delivered, email="hanako.new@example.jp", login_id="hanako.2", owner_email=EMAIL
    )
    return {
        "registration_link",
        "registration_completion_link",
        "reregistration_notice",
        "reregistration_pending",
        "account_replaced",
        "registration_completed",
    }


def _login_code() -> set[str]:
    _logged_in()
    return {"login_code"}


def _lockout_notice() -> set[str]:
    _account()
    flows.lock_out(Client())
    return {"account_locked"}


def _password_reset() -> set[str]:
    _account()
    flows.password_reset(Client(), delivered)
    return {"password_reset", "password_changed"}


def _forgot_id() -> set[str]:
    _account()
    known = flows.forgot_id(Client(), EMAIL.upper())
    unknown = flows.forgot_id(Client(), "nobody@example.jp")
    # The same page either way: the answer tells nothing about which addresses are registered.
    assert known.status_code == unknown.status_code == 200
    pages = [
        [t.name for t in answer.templates if not t.name.startswith("notifications/email/")]
        for answer in (known, unknown)
    ]
    assert pages[0] == pages[1]
    assert flows.LOGIN_ID in delivered("login_id_reminder", EMAIL)
    return {"login_id_reminder"}


def _email_change() -> set[str]:
    client = _logged_in()
    flows.email_change(client, delivered, password=PASSWORD, new_email="hanako.new@example.jp")
    return {"login_code", "email_change_confirm", "email_change_requested", "email_changed"}


def _password_change() -> set[str]:
    client = _logged_in()
    flows.password_change(client, current=PASSWORD, new=NEW_PASSWORD)
    return {"login_code", "password_changed"}


def _personal_message_change() -> set[str]:
    client = _logged_in()
    flows.personal_message_change(client, password=PASSWORD)
    return {"login_code", "personal_message_changed"}


def _statement_confirmed() -> set[str]:
    account = _account()
    UsageLineFactory(member=account.member, billing_month="2025-04")
    close("2025-04")
    assert publish("2025-04").emails_queued == 1
    return {"statement_confirmed"}


def _operators_alert() -> set[str]:
    with time_machine.travel(dt.datetime(2025, 6, 13, 9, 0, tzinfo=JST), tick=False):
        result = confirmation_day_run(today=dt.date(2025, 6, 13))
    assert result == {"month": "2025-06", "action": "operators_alerted", "emails": 2}
    assert len(delivered_of("operators_month_not_closed")) == 2
    return {"operators_month_not_closed"}


PATHS: dict[str, Callable[[], set[str]]] = {
    "registration": _registration,
    "re-registration": _re_registration,
    "login code": _login_code,
    "lockout notice": _lockout_notice,
    "password reset": _password_reset,
    "forgot id": _forgot_id,
    "email change": _email_change,
    "password change notice": _password_change,
    "personal message notice": _personal_message_change,
    "statement confirmed (publish)": _statement_confirmed,
    "operators alert": _operators_alert,
}


@pytest.mark.parametrize("path", PATHS.values(), ids=PATHS.keys())
def test_each_mail_path_delivers_its_mail_in_autocommit(path):
    expected = path()

    rows = list(OutboxMessage.objects.values_list("template", "status"))
    assert {template for template, _ in rows} == expected
    assert {status for _, status in rows} == {OutboxMessage.Status.SENT}
    for template in expected:
        assert len(delivered_of(template)) == sum(1 for t, _ in rows if t == template)


def test_queueing_outside_any_transaction_stores_every_batch():
    email_enqueue(
        key="alone",
        template="operators_month_not_closed",
        to="ops@issuer.example.jp",
        context={"month_label": "2025年6月請求分", "month": "2025-06"},
    )
    offered = email_enqueue_many(
        (
            Email(
                key=f"batch:{n}",
                template="operators_month_not_closed",
                to=f"ops{n}@issuer.example.jp",
                context={"month_label": "2025年6月請求分", "month": "2025-06"},
            )
            for n in range(5)
        ),
        batch_size=2,
    )
    assert offered == 5
    assert OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT).count() == 6
