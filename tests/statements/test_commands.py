"""The monthly commands: ``meisai close|publish|pdf_check`` run here, or with ``--queue`` as jobs."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import override_settings

from meisai.clock import JST
from meisai.core.models import Job
from meisai.statements.models import MonthClose
from tests.factories import AccountFactory, MemberFactory, UsageLineFactory

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def june_lines():
    account = AccountFactory(member=MemberFactory(member_no="M0000501"))
    UsageLineFactory(member=account.member, billing_month="2025-06", billed_amount=5400)
    return account


@time_machine.travel(dt.datetime(2025, 6, 13, 9, 0, tzinfo=JST), tick=False)
def test_queued_close_and_publish_are_jobs_that_the_workers_run(
    june_lines, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        closed = _run("close", "2025-06", "--queue", "--actor", "op-sato")
    with django_capture_on_commit_callbacks(execute=True):
        published = _run("publish", "2025-06", "--queue", "--actor", "op-sato")

    close_job, publish_job = Job.objects.get(kind="close"), Job.objects.get(kind="publish")
    assert closed == f"2025年6月請求分: 締め処理をジョブ {close_job.pk} として受け付けました。\n"
    assert published == f"2025年6月請求分: 公開をジョブ {publish_job.pk} として受け付けました。\n"
    assert (close_job.status, close_job.actor, close_job.counts["statements"]) == (
        "done",
        "op-sato",
        1,
    )
    assert (publish_job.status, publish_job.counts["emails_queued"]) == ("done", 1)
    record = MonthClose.objects.get(billing_month="2025-06")
    assert (record.status, record.closed_by, record.published_by) == (
        "confirmed",
        "op-sato",
        "op-sato",
    )


@time_machine.travel(dt.datetime(2025, 6, 13, 9, 0, tzinfo=JST), tick=False)
def test_pdf_check_records_then_verifies_every_fingerprint(june_lines):
    _run("close", "2025-06")
    _run("publish", "2025-06")

    first = _run("pdf_check", "2025-06")
    second = _run("pdf_check", "2025-06")

    assert first == "2025年6月請求分: PDF 1件 (記録 1 / 一致 0 / 不一致 0)\n"
    assert second == "2025年6月請求分: PDF 1件 (記録 0 / 一致 1 / 不一致 0)\n"
    # A rendering that differs from what was served (here: another issuer name on the page).
    with (
        override_settings(MEISAI_ISSUER_NAME="別の発行会社"),
        pytest.raises(CommandError) as refused,
    ):
        _run("pdf_check", "2025-06")
    assert str(refused.value) == "2025年6月請求分: 1件のPDFが記録されたSHA-256と一致しません。"
