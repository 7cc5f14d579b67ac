"""Celery tasks of the outbox. Safe to run twice: the sender claims rows one at a time."""

from __future__ import annotations

from celery import shared_task

from meisai.notifications.sender import outbox_send_due


@shared_task(name="meisai.outbox_send", ignore_result=True)
def outbox_send() -> dict[str, int]:
    result = outbox_send_due()
    return {"sent": result.sent, "failed": result.failed, "deferred": result.deferred}
