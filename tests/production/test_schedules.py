"""The scheduler drives the calendar (SPEC 3.6): every schedule in one place, and the
confirmation-day run — publish a closed month, tell operators about an unclosed one."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from meisai.billing_calendar import BillingMonth
from meisai.celery_app import app
from meisai.clock import JST
from meisai.core.models import Job
from meisai.notifications.models import OutboxMessage
from meisai.schedules import BEAT_SCHEDULE
from meisai.statements.close import statement_close
from meisai.statements.models import MonthClose, Statement, UsageLine
from meisai.statements.publish import confirmation_day_run
from meisai.statements.tasks import confirmation_day_task
from tests.factories import AccountFactory, MemberFactory


def test_every_schedule_names_a_registered_task_and_beat_uses_them():
    app.loader.import_default_modules()
    assert app.conf.beat_schedule is BEAT_SCHEDULE
    assert {entry["task"] for entry in BEAT_SCHEDULE.values()} == {
        "meisai.confirmation_day",
        "meisai.outbox_send",
        "meisai.reregistrations_take_effect",
        "meisai.sessions_clear",
        "meisai.tokens_clear",
    }
    assert {entry["task"] for entry in BEAT_SCHEDULE.values()} <= set(app.tasks)


def test_outbox_is_retried_every_minute():
    schedule = BEAT_SCHEDULE["outbox-retry"]["schedule"]
    assert schedule.minute == set(range(60))
    assert schedule.hour == set(range(24))


@pytest.fixture
def operators(settings):
    settings.MEISAI_OPERATOR_EMAILS = ["ops1@issuer.example.jp", "ops2@issuer.example.jp"]


@pytest.mark.django_db
def test_before_the_confirmation_day_nothing_happens(operators):
    # 2025-06: the 13th is a Friday, so the confirmation day is 2025-06-13.
    assert confirmation_day_run(today=dt.date(2025, 6, 12)) == {
        "month": "2025-06",
        "action": "none",
    }
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db
def test_unclosed_month_on_its_confirmation_day_tells_each_operator_once_a_day(operators):
    first = confirmation_day_run(today=dt.date(2025, 6, 13))
    again = confirmation_day_run(today=dt.date(2025, 6, 13))
    next_day = confirmation_day_run(today=dt.date(2025, 6, 14))

    assert first == {"month": "2025-06", "action": "operators_alerted", "emails": 2}
    assert again["action"] == next_day["action"] == "operators_alerted"
    messages = list(OutboxMessage.objects.order_by("key"))
    assert [m.key for m in messages] == [
        "operators:month-not-closed:2025-06:2025-06-13:ops1@issuer.example.jp",
        "operators:month-not-closed:2025-06:2025-06-13:ops2@issuer.example.jp",
        "operators:month-not-closed:2025-06:2025-06-14:ops1@issuer.example.jp",
        "operators:month-not-closed:2025-06:2025-06-14:ops2@issuer.example.jp",
    ]
    assert messages[0].subject == "【要対応】2025年6月請求分の締め処理が完了していません"
    assert "meisai close 2025-06" in messages[0].body_text


def _closed_june() -> AccountFactory:
    account = AccountFactory(member=MemberFactory(member_no="M0000301"))
    UsageLine.objects.create(
        member=account.member,
        billing_month="2025-06",
        line_no=1,
        use_date=dt.date(2025, 5, 20),
        merchant="盛岡中央スーパー",
        user_kind="本人",
        payment_type="1回",
        use_amount=5400,
        billed_amount=5400,
    )
    with time_machine.travel(dt.datetime(2025, 6, 10, 9, 0, tzinfo=JST), tick=False):
        statement_close(month=BillingMonth(2025, 6), actor="operator")
    return account


@pytest.mark.django_db
def test_closed_month_is_published_on_its_confirmation_day_once(operators):
    account = _closed_june()

    with time_machine.travel(dt.datetime(2025, 6, 13, 6, 0, tzinfo=JST), tick=False):
        published = confirmation_day_run(today=dt.date(2025, 6, 13))
        again = confirmation_day_run(today=dt.date(2025, 6, 13))

    assert published["action"] == "published"
    assert published["emails_queued"] == 1
    assert again == {"month": "2025-06", "action": "already_published"}
    assert MonthClose.objects.get().published_by == "scheduler"
    assert Statement.objects.get().published_at == dt.datetime(2025, 6, 13, 6, 0, tzinfo=JST)
    assert list(OutboxMessage.objects.values_list("key", "to")) == [
        ("statement_confirmed:2025-06:M0000301", account.email)
    ]


@pytest.mark.django_db
def test_month_closed_after_its_day_is_published_by_the_next_run(operators):
    confirmation_day_run(today=dt.date(2025, 6, 13))  # not closed yet: operators told
    _closed_june()

    with time_machine.travel(dt.datetime(2025, 6, 16, 7, 0, tzinfo=JST), tick=False):
        late = confirmation_day_run(today=dt.date(2025, 6, 16))

    assert late["action"] == "published"
    assert OutboxMessage.objects.filter(key__startswith="statement_confirmed:").count() == 1


@pytest.mark.django_db
def test_the_scheduled_task_records_its_job(operators):
    confirmation_day_task.delay(today="2025-06-13")

    job = Job.objects.get()
    assert (job.kind, job.status, job.actor, job.args) == (
        "confirmation_day",
        "done",
        "scheduler",
        {"today": "2025-06-13"},
    )
    assert job.counts == {"month": "2025-06", "action": "operators_alerted", "emails": 2}


@pytest.mark.django_db
def test_tokens_clear_deletes_links_and_codes_expired_over_a_week_ago():
    from meisai.accounts.models import AccountToken, LoginChallenge
    from meisai.core.tasks import tokens_clear

    account = AccountFactory()
    moment = dt.datetime(2025, 6, 20, 3, 40, tzinfo=JST)
    for n, expired in enumerate([moment - dt.timedelta(days=8), moment - dt.timedelta(days=6)]):
        AccountToken.objects.create(
            account=account,
            purpose=AccountToken.Purpose.PASSWORD_RESET,
            token_hash=f"{n}" * 64,
            created_at=expired - dt.timedelta(hours=24),
            expires_at=expired,
        )

    with time_machine.travel(moment, tick=False):
        counts = tokens_clear.delay().get()

    assert counts == {"tokens": 1, "codes": 0}
    assert list(AccountToken.objects.values_list("token_hash", flat=True)) == ["1" * 64]
    assert LoginChallenge.objects.count() == 0
