"""Months follow the calendar (SPEC 3.6): nothing before the service start is closed or
published, and a month is closed after the earlier months of the service that have usage lines,
unless the operator says ``--force``."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command

from meisai.audit.models import AuditEntry
from meisai.billing_calendar import BillingMonth
from meisai.core.models import Job
from meisai.notifications.models import OutboxMessage
from meisai.statements.close import CloseRefused
from meisai.statements.models import MonthClose, Statement
from meisai.statements.publish import (
    PublishRefused,
    confirmation_day_run,
    statement_publish_due,
)
from meisai.statements.tasks import statement_close_task, statement_publish_task
from tests.factories import AccountFactory, MemberFactory, UsageLineFactory
from tests.statements.cycle import close, jst, publish

pytestmark = pytest.mark.django_db

BEFORE_START = "2024年10月請求分はサービス開始(2024年11月請求分)より前の月のため"


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _nothing_closed() -> None:
    assert Statement.objects.count() == 0
    assert MonthClose.objects.count() == 0
    assert not AuditEntry.objects.filter(action__startswith="statement_close").exists()


@pytest.fixture
def october_2024_closed(settings):
    """A member with a web account whose 2024-10 lines were closed while the start was set
    earlier (as a misconfigured or pre-fix close would have left them)."""
    account = AccountFactory(member=MemberFactory(member_no="M0000910"))
    UsageLineFactory(member=account.member, billing_month="2024-10", billed_amount=2_000)
    settings.MEISAI_CALENDAR = {**settings.MEISAI_CALENDAR, "service_start": "2024-10"}
    close("2024-10")
    settings.MEISAI_CALENDAR = {**settings.MEISAI_CALENDAR, "service_start": "2024-11"}
    return account


def _nothing_published() -> None:
    assert set(Statement.objects.values_list("published_at", flat=True)) == {None}
    assert MonthClose.objects.get(billing_month="2024-10").published_at is None
    assert OutboxMessage.objects.count() == 0
    assert not AuditEntry.objects.filter(action="statement_publish").exists()


# --- nothing before the service start ------------------------------------------------------------


def test_close_of_2024_10_before_the_service_start_is_refused_and_changes_nothing():
    UsageLineFactory(billing_month="2024-10")

    with pytest.raises(CloseRefused) as refused:
        close("2024-10")

    assert str(refused.value) == f"{BEFORE_START}、締め処理できません。"

    _nothing_closed()


def test_close_command_of_2024_10_says_why_in_one_line_even_with_force_or_queue():
    UsageLineFactory(billing_month="2024-10")

    with time_machine.travel(jst(2024, 10, 11, 12, 0), tick=False):
        for extra in ([], ["--force"], ["--queue"], ["--dry-run"]):
            with pytest.raises(CommandError) as refused:
                _run("close", "2024-10", *extra)
            assert str(refused.value) == f"{BEFORE_START}、締め処理できません。"

    _nothing_closed()
    assert Job.objects.count() == 0


def test_the_service_start_month_itself_is_closed_and_earlier_imported_lines_do_not_hold_it():
    UsageLineFactory(billing_month="2024-10")
    UsageLineFactory(billing_month="2024-11")

    assert close("2024-11").outcome == "confirmed"


def test_publish_of_2024_10_is_refused_and_mails_nobody(october_2024_closed):
    with pytest.raises(PublishRefused) as refused:
        publish("2024-10")

    assert str(refused.value) == f"{BEFORE_START}、公開できません。"

    _nothing_published()


def test_publish_command_of_2024_10_says_why_in_one_line_also_queued(october_2024_closed):
    with time_machine.travel(jst(2024, 10, 15, 9, 0), tick=False):
        for extra in ([], ["--queue"]):
            with pytest.raises(CommandError) as refused:
                _run("publish", "2024-10", *extra)
            assert str(refused.value) == f"{BEFORE_START}、公開できません。"

    _nothing_published()
    assert Job.objects.count() == 0


def test_the_publish_task_refuses_2024_10_and_records_the_reason(october_2024_closed):
    with (
        time_machine.travel(jst(2024, 10, 15, 9, 0), tick=False),
        pytest.raises(PublishRefused),
    ):
        statement_publish_task.delay(month="2024-10", actor="op-sato")

    job = Job.objects.get(kind="publish")
    assert (job.status, job.error) == (
        "failed",
        f"PublishRefused: {BEFORE_START}、公開できません。",
    )
    _nothing_published()


def test_the_confirmation_day_never_picks_a_month_before_the_start(settings, october_2024_closed):
    settings.MEISAI_OPERATOR_EMAILS = ["ops1@issuer.example.jp"]
    # 2024-10-13 is a Sunday and the 14th スポーツの日: October's confirmation day is the 15th.
    with time_machine.travel(jst(2024, 10, 15, 6, 0), tick=False):
        assert statement_publish_due(today=dt.date(2024, 10, 15)) is None
        assert confirmation_day_run(today=dt.date(2024, 10, 15)) == {
            "month": "2024-10",
            "action": "before_service_start",
        }

    _nothing_published()


def test_the_confirmation_day_does_not_alert_operators_about_a_month_before_the_start(settings):
    settings.MEISAI_OPERATOR_EMAILS = ["ops1@issuer.example.jp"]
    UsageLineFactory(billing_month="2024-10")

    assert confirmation_day_run(today=dt.date(2024, 10, 16))["action"] == "before_service_start"
    assert OutboxMessage.objects.count() == 0


# --- the earlier months of the service are closed first -----------------------------------------


@pytest.fixture
def january_open():
    """2025-01 and 2025-02 have usage lines; neither is closed."""
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-01", billed_amount=1_000)
    UsageLineFactory(member=member, billing_month="2025-02", billed_amount=2_000)
    return member


ORDER_REFUSED = (
    "2025年2月請求分より前の2025年1月請求分がまだ締められていません"
    "(先に meisai close 2025-01 を実行するか、承知のうえで --force を付けてください)。"
)


def test_closing_2025_02_while_2025_01_is_open_is_refused_and_changes_nothing(january_open):
    with pytest.raises(CloseRefused) as refused:
        close("2025-02")

    assert str(refused.value) == ORDER_REFUSED
    _nothing_closed()


def test_a_dry_run_of_2025_02_while_2025_01_is_open_says_the_same(january_open):
    with pytest.raises(CloseRefused, match="2025年1月請求分がまだ締められていません"):
        close("2025-02", dry_run=True)

    _nothing_closed()


def test_the_refusal_names_every_open_month_and_skips_months_without_lines_or_closed():
    UsageLineFactory(billing_month="2024-12")
    UsageLineFactory(billing_month="2025-01")
    UsageLineFactory(billing_month="2025-03")
    UsageLineFactory(billing_month="2025-04")
    close("2024-12")  # 2024-11 and 2025-02 have no lines

    with pytest.raises(CloseRefused) as refused:
        close("2025-04")

    assert str(refused.value) == (
        "2025年4月請求分より前の2025年1月請求分、2025年3月請求分がまだ締められていません"
        "(先に meisai close 2025-01 を実行するか、承知のうえで --force を付けてください)。"
    )
    assert MonthClose.objects.filter(billing_month="2025-04").count() == 0


def test_a_failed_close_leaves_its_month_open(january_open):
    MonthClose.objects.create(
        billing_month="2025-01", status=MonthClose.Status.FAILED, started_at=jst(2025, 1, 11, 12)
    )

    with pytest.raises(CloseRefused, match="2025年1月請求分がまだ締められていません"):
        close("2025-02")


def test_closing_in_order_needs_no_force(january_open):
    close("2025-01")

    assert close("2025-02").outcome == "confirmed"
    entry = AuditEntry.objects.get(action="statement_close", detail__month="2025-02")
    assert (entry.detail["force"], entry.detail["open_months"]) == (False, [])


def test_force_closes_2025_02_and_the_audit_row_says_which_months_were_open(january_open):
    result = close("2025-02", force=True)

    assert result.outcome == "confirmed"
    assert MonthClose.objects.get().billing_month == BillingMonth(2025, 2)
    entry = AuditEntry.objects.get(action="statement_close")
    assert (entry.detail["month"], entry.detail["force"], entry.detail["open_months"]) == (
        "2025-02",
        True,
        ["2025-01"],
    )


def test_a_month_confirmed_with_force_closes_again_as_already_confirmed(january_open):
    close("2025-02", force=True)

    assert close("2025-02", at=jst(2025, 2, 20, 9, 0)).outcome == "already_confirmed"


def test_close_command_asks_for_force_then_closes_with_it(january_open):
    with time_machine.travel(jst(2025, 2, 12, 9, 0), tick=False):
        with pytest.raises(CommandError) as refused:
            _run("close", "2025-02")
        assert str(refused.value) == ORDER_REFUSED
        _nothing_closed()

        out = _run("close", "2025-02", "--force", "--actor", "op-sato")

    assert out.splitlines()[:2] == [
        "2025年2月請求分: 確定しました。",
        "  注意: 2025年1月請求分が未締めのまま --force で締めました",
    ]
    entry = AuditEntry.objects.get(action="statement_close")
    assert (entry.actor, entry.detail["force"], entry.detail["open_months"]) == (
        "op-sato",
        True,
        ["2025-01"],
    )


def test_queued_close_asks_for_force_at_once_and_carries_it_to_the_job(
    january_open, django_capture_on_commit_callbacks
):
    with time_machine.travel(jst(2025, 2, 12, 9, 0), tick=False):
        with pytest.raises(CommandError) as refused:
            _run("close", "2025-02", "--queue")
        assert str(refused.value) == ORDER_REFUSED
        assert Job.objects.count() == 0

        with django_capture_on_commit_callbacks(execute=True):
            _run("close", "2025-02", "--queue", "--force", "--actor", "op-sato")

    job = Job.objects.get(kind="close")
    assert (job.status, job.args) == ("done", {"month": "2025-02", "dry_run": False, "force": True})
    assert AuditEntry.objects.get(action="statement_close").detail["force"] is True


def test_the_close_task_obeys_the_order_and_fails_its_job_with_the_reason(january_open):
    with (
        time_machine.travel(jst(2025, 2, 12, 9, 0), tick=False),
        pytest.raises(CloseRefused),
    ):
        statement_close_task.delay(month="2025-02", actor="op-sato")

    job = Job.objects.get(kind="close")
    assert (job.status, job.error) == ("failed", f"CloseRefused: {ORDER_REFUSED}")
    _nothing_closed()
