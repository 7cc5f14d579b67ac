"""Celery tasks of the staff console: an uploaded import file, and an approved request.

Task wrappers only, each inside ``job_run`` so the console's job list shows its state and counts.
Both are safe to run twice: importing the same file again changes nothing (its SHA-256), and an
approved request that is done already is not carried out again (``approvals.approval_execute``).
The importer's own task (``imports.tasks.import_file_task``, for ``meisai import --queue``) has no
dry run and no re-import check; the console needs both, hence a task of its own.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from meisai.core.jobs import job_run
from meisai.core.tasks import TASK_OPTIONS
from meisai.imports.models import ImportBatch


class ImportFailed(RuntimeError):
    """A real import of an upload kept nothing: the job ends failed, its counts name the batch."""


@shared_task(name="meisai.console_import", **TASK_OPTIONS)
def console_import_task(
    self: Any,
    *,
    kind: str,
    path: str,
    name: str,
    actor: str,
    sha256: str = "",
    encoding: str | None = None,
    dry_run: bool = False,
    append: bool = False,
    dry_run_job: int | None = None,
    job_id: int | None = None,
) -> dict[str, Any]:
    from meisai.backoffice.uploads import upload_import

    args = {
        "kind": kind,
        "path": path,
        "name": name,
        "sha256": sha256,
        "encoding": encoding,
        "dry_run": dry_run,
        "append": append,
        **({"dry_run_job": dry_run_job} if dry_run_job else {}),
    }
    with job_run(
        kind="import_dry_run" if dry_run else "import",
        args=args,
        job_id=job_id,
        actor=actor,
        task_id=self.request.id or "",
    ) as job:
        counts = upload_import(
            kind=kind,
            path=path,
            name=name,
            encoding=encoding,
            dry_run=dry_run,
            append=append,
            actor=actor,
        )
        job.finish(counts)
        # A dry run that found problems did its work: its report is the result. A real import
        # that kept nothing failed.
        if not dry_run and counts.get("status") == ImportBatch.Status.FAILED:
            raise ImportFailed(
                f"{name}: {counts.get('problems', 0)} problem(s); nothing was imported"
            )
    return job.job.counts


@shared_task(name="meisai.approval_execute", **TASK_OPTIONS)
def approval_execute_task(
    self: Any, *, request_id: int, actor: str, job_id: int | None = None
) -> dict[str, Any]:
    from meisai.backoffice.approvals import approval_execute

    with job_run(
        kind="approval",
        args={"request_id": request_id},
        job_id=job_id,
        actor=actor,
        task_id=self.request.id or "",
    ) as job:
        job.finish(approval_execute(request_id=request_id).result)
    return job.job.counts
