"""Reads of the month console (``/backoffice/month/``): jobs, closes, import batches, approval
requests, and the reports a job's counts hold, in the words the command line prints."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from meisai.backoffice.models import ApprovalRequest
from meisai.billing_calendar import BillingMonth
from meisai.core.models import Job
from meisai.imports.models import ImportBatch
from meisai.statements.close import CloseResult
from meisai.statements.models import MonthClose, Statement

#: How many of each the month page lists.
RECENT = 30


@dataclass(frozen=True)
class MonthPage:
    jobs: list[Job]
    closes: list[MonthClose]
    batches: list[ImportBatch]
    pending: list[ApprovalRequest]
    decided: list[ApprovalRequest]


def month_page() -> MonthPage:
    requests = ApprovalRequest.objects.select_related("requested_by", "decided_by", "job")
    return MonthPage(
        jobs=list(Job.objects.order_by("-queued_at", "-id")[:RECENT]),
        closes=list(MonthClose.objects.order_by("-billing_month")[:12]),
        batches=list(ImportBatch.objects.order_by("-started_at", "-id")[:RECENT]),
        pending=list(requests.filter(state=ApprovalRequest.State.PENDING)),
        decided=list(requests.exclude(state=ApprovalRequest.State.PENDING)[:RECENT]),
    )


def job_by_id(pk: int) -> Job | None:
    return Job.objects.filter(pk=pk).first()


def import_report(job: Job) -> list[str]:
    """The lines ``meisai import`` prints for the file of an import job, with the name the file
    had in the browser in place of the path it is stored under."""
    counts, args = job.counts, job.args
    name, path = str(args.get("name", "")), str(args.get("path", ""))
    batch = ImportBatch.objects.filter(pk=counts.get("batch")).first() if counts else None
    if batch is None:
        return []
    if batch.status == ImportBatch.Status.FAILED:
        lines = [
            name + line[len(path) :] if path and line.startswith(path) else line
            for line in batch.errors.splitlines()
        ]
        hidden = batch.error_count - len(lines)
        more = [f"… ほか {hidden} 件"] if hidden > 0 else []
        return [*lines, *more, f"{name}: {batch.error_count} problem(s); nothing was imported"]
    if batch.status == ImportBatch.Status.UNCHANGED:
        return [f"{name}: already imported ({batch.errors}); nothing changed"]
    verb = "checked (dry run, nothing kept)" if counts.get("dry_run") else "imported"
    return [
        f"{name}: {verb}: {batch.rows} rows; {counts.get('unit', 'rows')}: {batch.inserted} new, "
        f"{batch.updated} updated, {counts.get('unchanged', 0)} unchanged (batch {batch.pk}, "
        f"{batch.encoding})"
    ]


def close_result(job: Job) -> CloseResult | None:
    """The figures of a close job (its dry run or the close), as the close returned them."""
    counts = job.counts
    if job.kind != "close" or "outcome" not in counts:
        return None
    values: dict[str, Any] = {}
    for field in dataclasses.fields(CloseResult):
        if field.name not in counts:
            continue
        value = counts[field.name]
        if field.name == "month":
            value = BillingMonth.parse(value)
        elif field.name == "debit_date":
            value = dt.date.fromisoformat(value) if value and value != "None" else None
        elif field.name == "campaigns":
            value = tuple(value)
        elif field.name == "open_months":
            value = tuple(BillingMonth.parse(m) for m in value)
        values[field.name] = value
    return CloseResult(**values)


@dataclass(frozen=True)
class PublishPreview:
    """What the approver of a publication sees: the month's close and what is left to show."""

    close: MonthClose | None
    unpublished: int


def publish_preview(month: BillingMonth) -> PublishPreview:
    return PublishPreview(
        close=MonthClose.objects.filter(billing_month=month).first(),
        unpublished=Statement.objects.filter(
            billing_month=month, published_at__isnull=True
        ).count(),
    )


def approval_by_id(pk: int) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.select_related("requested_by", "decided_by", "job")
        .filter(pk=pk)
        .first()
    )
