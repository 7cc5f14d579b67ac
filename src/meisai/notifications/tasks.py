"""Celery tasks of the outbox. Safe to run twice: the sender claims rows one at a time."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from meisai.core.jobs import job_run
from meisai.core.tasks import DATABASE_ERRORS, TASK_OPTIONS
from meisai.notifications.sender import SmtpUnavailable, outbox_due_count, outbox_send_due

logger = logging.getLogger(__name__)


@shared_task(
    name="meisai.outbox_send",
    **{
        **TASK_OPTIONS,
        # The SMTP server away: retry after about 2, 4, 8 … seconds, at most 5 minutes apart;
        # the scheduler also asks every minute, so nothing waits for ever.
        "autoretry_for": (SmtpUnavailable, *DATABASE_ERRORS),
        "retry_backoff": 2,
        "retry_backoff_max": 300,
        "max_retries": 10,
    },
)
def outbox_send(self: Any) -> dict[str, int]:
    # Kicks arrive after every commit that queued mail and every minute from the scheduler;
    # only runs that have something to send leave a job record.
    if outbox_due_count() == 0:
        return {"sent": 0, "failed": 0, "deferred": 0}
    try:
        with job_run(kind="outbox_send", task_id=self.request.id or "") as job:
            result = outbox_send_due()
            job.finish(result.as_dict())
    except SmtpUnavailable:
        if not self.request.is_eager:
            raise
        # Inline (the embedded default) the caller is a page or a command: the mail stays due
        # and the next kick sends it; the member's request must not fail for it.
        logger.warning("outbox: SMTP server unavailable; mail stays queued", exc_info=True)
        return {"sent": 0, "failed": 0, "deferred": 0}
    return result.as_dict()
