"""The monthly cycle's tasks record their jobs with the services' counts."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from meisai.clock import JST
from meisai.core.models import Job
from meisai.imports.models import ImportBatch
from meisai.imports.tasks import import_file_task
from meisai.statements.close import CloseRefused
from meisai.statements.models import UsageLine
from meisai.statements.tasks import statement_close_task, statement_publish_task
from tests.factories import AccountFactory, MemberFactory

pytestmark = pytest.mark.django_db


def _job(kind: str) -> Job:
    return Job.objects.get(kind=kind)


@time_machine.travel(dt.datetime(2025, 6, 12, 9, 0, tzinfo=JST), tick=False)
def test_close_and_publish_tasks_record_their_counts(django_capture_on_commit_callbacks):
    account = AccountFactory(member=MemberFactory(member_no="M0000401"))
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

    statement_close_task.delay(month="2025-06", actor="op-sato")
    with django_capture_on_commit_callbacks(execute=False):
        statement_publish_task.delay(month="2025-06", actor="op-sato")

    close, publish = _job("close"), _job("publish")
    assert (close.status, close.actor, close.args) == (
        "done",
        "op-sato",
        {"month": "2025-06", "dry_run": False},
    )
    assert {k: close.counts[k] for k in ("month", "outcome", "statements", "statement_total")} == {
        "month": "2025-06",
        "outcome": "confirmed",
        "statements": 1,
        "statement_total": 5400 + 165,  # paper: no web preference recorded before the 9th
    }
    assert close.counts["debit_date"] == "2025-06-26"
    assert publish.status == "done"
    assert {k: publish.counts[k] for k in ("statements_published", "emails_queued")} == {
        "statements_published": 1,
        "emails_queued": 1,
    }


@time_machine.travel(dt.datetime(2025, 6, 5, 9, 0, tzinfo=JST), tick=False)
def test_a_refused_close_leaves_a_failed_job_with_the_reason():
    with pytest.raises(CloseRefused, match="^2025年6月請求分の締めは"):
        statement_close_task.delay(month="2025-06", actor="op-sato")

    job = _job("close")
    assert job.status == "failed"
    assert job.error.startswith("CloseRefused: 2025年6月請求分の締めは")
    assert job.finished_at == dt.datetime(2025, 6, 5, 9, 0, tzinfo=JST)


def test_import_task_records_the_batch_and_counts(tmp_path):
    products = tmp_path / "products.csv"
    products.write_text(
        "product_code,name,program_excluded\nSTD,日専連カード,0\nIRIS,IRISカード,1\n",
        encoding="utf-8",
    )

    import_file_task.delay(kind="products", path=str(products), actor="op-kato")
    import_file_task.delay(kind="products", path=str(products), actor="op-kato")

    first, second = Job.objects.filter(kind="import").order_by("id")
    batch = ImportBatch.objects.get(status="done")
    assert first.counts["batch"] == batch.pk
    assert {k: first.counts[k] for k in ("rows", "inserted", "unchanged")} == {
        "rows": 2,
        "inserted": 2,
        "unchanged": False,
    }
    assert (second.status, second.counts["inserted"], second.counts["unchanged"]) == (
        "done",
        0,
        True,
    )
