"""Celery task of the imports: one uploaded file of the core system, imported whole or not at all.

The file sits on storage every worker reads (``MEISAI_MEDIA_ROOT`` on a shared volume, see
docs/deployment.md). Importing the same file again changes nothing (the importer recognises
it by its SHA-256), so the task is safe to run twice.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from meisai.core.jobs import job_run
from meisai.core.tasks import TASK_OPTIONS


@shared_task(name="meisai.import_file", **TASK_OPTIONS)
def import_file_task(
    self: Any,
    *,
    kind: str,
    path: str,
    actor: str,
    encoding: str | None = None,
    append: bool = False,
    job_id: int | None = None,
) -> dict[str, Any]:
    from meisai.imports.services import import_file

    args = {
        "kind": kind,
        "path": path,
        "encoding": encoding,
        **({"append": True} if append else {}),
    }
    with job_run(
        kind="import", args=args, job_id=job_id, actor=actor, task_id=self.request.id or ""
    ) as job:
        outcome = import_file(kind=kind, path=path, encoding=encoding, actor=actor, append=append)
        job.finish(
            {
                "batch": outcome.batch.pk,
                "status": outcome.batch.status,
                "rows": outcome.counts.rows,
                "inserted": outcome.counts.inserted,
                "updated": outcome.counts.updated,
                "unchanged": outcome.already_imported is not None,
            }
        )
    return job.job.counts
