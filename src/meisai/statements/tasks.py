"""Celery tasks of the monthly cycle: close, publish, the confirmation-day check, PDF batches.

Thin: each parses its arguments, runs one service inside ``job_run`` and returns its counts. The
services are idempotent (a second close or publish changes nothing and sends no second email),
so a task that runs twice, or again after its worker died, is harmless.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from meisai import billing_calendar
from meisai.billing_calendar import BillingMonth
from meisai.clock import today_jst
from meisai.core.jobs import job_run
from meisai.core.progress import progress_report
from meisai.core.tasks import TASK_OPTIONS
from meisai.notifications.services import Email, email_enqueue_many
from meisai.statements.models import MonthClose, Statement

logger = logging.getLogger(__name__)


def counts_of(result: Any) -> dict[str, Any]:
    """A service's result as JSON counts for the job record."""
    if result is None:
        return {}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        values = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        return {
            name: value
            if isinstance(value, int | str | float | bool | None)
            else [str(v) for v in value]
            if isinstance(value, tuple | list)
            else str(value)
            for name, value in values.items()
        }
    if isinstance(result, dict):
        return {
            str(k): v if isinstance(v, int | str | float) else str(v) for k, v in result.items()
        }
    if isinstance(result, int):
        return {"count": result}
    if isinstance(result, MonthClose):
        return {
            "statements": result.statements,
            "web_statements": result.web_statements,
            "paper_statements": result.paper_statements,
            "statement_total": result.statement_total,
        }
    return {"result": str(result)}


@shared_task(name="meisai.statement_close", **TASK_OPTIONS)
def statement_close_task(
    self: Any, *, month: str, actor: str, dry_run: bool = False, job_id: int | None = None
) -> dict[str, Any]:
    from meisai.statements.services import statement_close

    args = {"month": month, "dry_run": dry_run}
    with job_run(
        kind="close", args=args, job_id=job_id, actor=actor, task_id=self.request.id or ""
    ) as job:
        result = statement_close(month=BillingMonth.parse(month), actor=actor, dry_run=dry_run)
        job.finish(counts_of(result))
    return job.job.counts


@shared_task(name="meisai.statement_publish", **TASK_OPTIONS)
def statement_publish_task(
    self: Any, *, month: str, actor: str, job_id: int | None = None
) -> dict[str, Any]:
    from meisai.statements.services import statement_publish

    with job_run(
        kind="publish",
        args={"month": month},
        job_id=job_id,
        actor=actor,
        task_id=self.request.id or "",
    ) as job:
        result = statement_publish(month=BillingMonth.parse(month), actor=actor)
        job.finish(counts_of(result))
    return job.job.counts


def operators_alert_not_closed(*, month: BillingMonth, today: dt.date) -> int:
    """Tell every operator address that ``month`` reached its confirmation day unclosed.

    One email per address per day: the key names the day, so a second run of the same day's
    schedule queues nothing.
    """
    emails = [
        Email(
            key=f"operators:month-not-closed:{month}:{today.isoformat()}:{address}",
            template="operators_month_not_closed",
            to=address,
            context={
                "month_label": month.label,
                "month": str(month),
                "confirmation_date": billing_calendar.confirmation_date(month),
                "today": today,
            },
        )
        for address in settings.MEISAI_OPERATOR_EMAILS
    ]
    return email_enqueue_many(emails) if emails else 0


def confirmation_day_run(*, today: dt.date) -> dict[str, Any]:
    """The scheduler's daily look at the calendar (SPEC 3.6).

    From the confirmation day of the current billing month on: if the month is closed and not yet
    published, publish it; if it is not closed, email the operators, every day until someone
    closes it.
    """
    from meisai.statements.services import statement_publish, statement_publish_due

    month = BillingMonth.of(today)
    confirmation = billing_calendar.confirmation_date(month)
    if today < confirmation:
        return {"month": str(month), "action": "none"}
    record = MonthClose.objects.filter(
        billing_month=str(month), status=MonthClose.Status.CONFIRMED
    ).first()
    if record is None:
        alerted = operators_alert_not_closed(month=month, today=today)
        logger.warning(
            "confirmation day of %s: month not closed, %d operators told", month, alerted
        )
        return {"month": str(month), "action": "operators_alerted", "emails": alerted}
    if record.published_at is not None:
        return {"month": str(month), "action": "already_published"}
    # On the day itself through the service's own rule; a month closed late is published by the
    # first run after its close.
    if today == confirmation:
        result = statement_publish_due(today=today)
    else:
        result = statement_publish(month=month, actor="scheduler")
    return {"month": str(month), "action": "published", **counts_of(result)}


@shared_task(name="meisai.confirmation_day", **TASK_OPTIONS)
def confirmation_day_task(self: Any, *, today: str | None = None) -> dict[str, Any]:
    day = dt.date.fromisoformat(today) if today else today_jst()
    with job_run(
        kind="confirmation_day",
        args={"today": day.isoformat()},
        actor="scheduler",
        task_id=self.request.id or "",
    ) as job:
        job.finish(confirmation_day_run(today=day))
    return job.job.counts


def statements_pdf_render(*, month: BillingMonth) -> dict[str, int]:
    """Render the PDF of every statement of ``month`` and check it against its recorded SHA-256.

    A statement without a recorded hash gets this rendering's (what the member will download);
    one with a hash must render to the same bytes, else it counts as a mismatch (and is logged
    by the check). Rendering before the confirmation day records every hash ahead of the rush;
    after a restore it proves the statements are the ones issued. Safe to run again.
    """
    from meisai.statements.pdf import (
        PdfFingerprintMismatch,
        statement_pdf,
        statement_pdf_fingerprint_check,
    )
    from meisai.statements.selectors import statement_view

    counts = {"rendered": 0, "recorded": 0, "verified": 0, "mismatched": 0}
    statements = Statement.objects.filter(billing_month=str(month)).order_by("id")
    with progress_report(f"PDF {month}", total=statements.count()) as advance:
        for statement in statements.iterator(chunk_size=500):
            had_hash = bool(statement.pdf_sha256)
            pdf = statement_pdf(
                view=statement_view(statement=statement), issuer=settings.MEISAI_ISSUER_NAME
            )
            counts["rendered"] += 1
            try:
                statement_pdf_fingerprint_check(statement=statement, pdf=pdf)
            except PdfFingerprintMismatch:
                counts["mismatched"] += 1
            else:
                counts["verified" if had_hash else "recorded"] += 1
            advance(1)
    return counts


@shared_task(name="meisai.statements_pdf_render", **TASK_OPTIONS)
def statements_pdf_render_task(
    self: Any, *, month: str, actor: str = "scheduler", job_id: int | None = None
) -> dict[str, Any]:
    with job_run(
        kind="pdf_render",
        args={"month": month},
        job_id=job_id,
        actor=actor,
        task_id=self.request.id or "",
    ) as job:
        job.finish(statements_pdf_render(month=BillingMonth.parse(month)))
    return job.job.counts
