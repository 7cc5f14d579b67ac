"""Recording background work as ``Job`` rows, so operators see what ran, how far and how it ended.

Tasks wrap their one service call in ``job_run``. While it runs, every ``progress_report`` bar
of the service also feeds the job's counts (through ``meisai.core.progress``), so the back
office shows the same numbers the terminal does. A task that Celery retries re-enters the same
job: its ``attempts`` grows and it goes back to running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError, connection, transaction

from meisai.clock import now
from meisai.core import progress
from meisai.core.metrics import job_observe
from meisai.core.models import Job

logger = logging.getLogger(__name__)

#: Write running counts at most this often: a bar may advance thousands of times a second.
SAVE_EVERY_SECONDS = 2.0


def connection_reopen_if_lost() -> None:
    """Before recording a failure: drop the connection when the failure killed it (a server
    restart, ``pg_terminate_backend``), so that the record goes out on a fresh one instead of
    failing on the dead one. Django does it itself when the error ended a transaction; a
    query in autocommit (a progress save, a lookup between transactions) leaves the dead
    connection in place. Inside a transaction there is nothing to do: the caller's
    transaction is lost with its connection."""
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def job_create(*, kind: str, args: dict[str, Any] | None = None, actor: str = "") -> Job:
    """Record work that was asked for; the task that does it receives ``job.pk``."""
    return Job.objects.create(kind=kind, args=args or {}, actor=actor, queued_at=now())


def job_dispatch(task: Any, *, kind: str, args: dict[str, Any], actor: str) -> Job:
    """Record work as a queued job and hand it to the workers once the record is committed.

    ``task`` is a Celery task taking ``args`` as keyword arguments plus ``actor`` and
    ``job_id``; it runs inline in the embedded default (``MEISAI_TASKS_INLINE``).
    """
    with transaction.atomic():
        job = job_create(kind=kind, args=args, actor=actor)
        transaction.on_commit(lambda: task.delay(**args, actor=actor, job_id=job.pk))
    return job


class JobHandle:
    """The running job as a task sees it: counts go to the database now and then."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._saved_at = 0.0

    def progress(self, label: str, done: int, total: int | None) -> None:
        self.job.done = done
        self.job.total = total
        self.job.counts = {**self.job.counts, label: done}
        moment = time.monotonic()
        if moment - self._saved_at >= SAVE_EVERY_SECONDS:
            self._saved_at = moment
            self._save("done", "total", "counts")

    def finish(self, counts: dict[str, Any]) -> None:
        self.job.counts = {**self.job.counts, **counts}

    def _save(self, *fields: str) -> None:
        Job.objects.filter(pk=self.job.pk).update(**{f: getattr(self.job, f) for f in fields})


@contextlib.contextmanager
def job_run(
    *,
    kind: str,
    args: dict[str, Any] | None = None,
    job_id: int | None = None,
    actor: str = "",
    task_id: str = "",
) -> Iterator[JobHandle]:
    """Mark the job running (creating it when the task was queued without one), feed it the
    progress of the work inside, and mark it done or failed with the error."""
    with transaction.atomic():
        job = None
        if job_id is not None:
            job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            job = job_create(kind=kind, args=args, actor=actor)
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.started_at = now()
        job.finished_at = None
        job.error = ""
        job.task_id = task_id or job.task_id
        job.save()
    handle = JobHandle(job)
    started = time.monotonic()
    try:
        with progress.job_listener(handle.progress):
            yield handle
    except BaseException as error:
        job_observe(kind=kind, seconds=time.monotonic() - started, failed=True)
        job.status = Job.Status.FAILED
        job.error = f"{type(error).__name__}: {error}"[:2000]
        job.finished_at = now()
        connection_reopen_if_lost()
        try:
            handle._save("status", "error", "finished_at", "done", "total", "counts")
        except DatabaseError as lost:
            # The database is still away: the job stays "running" until a retry re-enters it.
            logger.error("job %s #%s: its failure could not be recorded: %s", kind, job.pk, lost)
        logger.warning("job %s %s #%s failed: %s", kind, job.args, job.pk, job.error)
        raise
    job_observe(kind=kind, seconds=time.monotonic() - started, failed=False)
    job.status = Job.Status.DONE
    job.finished_at = now()
    handle._save("status", "finished_at", "done", "total", "counts")
    logger.info("job %s #%s done: %s", kind, job.pk, job.counts)


def job_counts(result: Any) -> dict[str, Any]:
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
    return {"result": str(result)}
