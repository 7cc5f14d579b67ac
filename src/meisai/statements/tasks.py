"""Celery tasks of the monthly cycle: close, publish, the confirmation-day check, PDF batches.

Task wrappers only: each parses its arguments, runs one service (close.py, publish.py, pdf.py)
inside ``job_run`` and returns its counts. The
services are idempotent (a second close or publish changes nothing and sends no second email),
so a task that runs twice, or again after its worker died, is harmless.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import shared_task

from meisai.billing_calendar import BillingMonth
from meisai.clock import today_jst
from meisai.core.jobs import job_counts, job_run
from meisai.core.tasks import TASK_OPTIONS
from meisai.statements.close import statement_close
from meisai.statements.pdf import statements_pdf_render
from meisai.statements.publish import confirmation_day_run, statement_publish


@shared_task(name="meisai.statement_close", **TASK_OPTIONS)
def statement_close_task(
    self: Any,
    *,
    month: str,
    actor: str,
    dry_run: bool = False,
    force: bool = False,
    job_id: int | None = None,
) -> dict[str, Any]:
    args = {"month": month, "dry_run": dry_run, **({"force": True} if force else {})}
    with job_run(
        kind="close", args=args, job_id=job_id, actor=actor, task_id=self.request.id or ""
    ) as job:
        result = statement_close(
            month=BillingMonth.parse(month), actor=actor, dry_run=dry_run, force=force
        )
        job.finish(job_counts(result))
    return job.job.counts


@shared_task(name="meisai.statement_publish", **TASK_OPTIONS)
def statement_publish_task(
    self: Any, *, month: str, actor: str, job_id: int | None = None
) -> dict[str, Any]:
    with job_run(
        kind="publish",
        args={"month": month},
        job_id=job_id,
        actor=actor,
        task_id=self.request.id or "",
    ) as job:
        result = statement_publish(month=BillingMonth.parse(month), actor=actor)
        job.finish(job_counts(result))
    return job.job.counts


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
