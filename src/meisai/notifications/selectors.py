"""Reads of the outbox for the demo outbox pages."""

from __future__ import annotations

from meisai.notifications.models import OutboxMessage


def outbox_recent(*, limit: int = 200) -> list[OutboxMessage]:
    """The latest messages, newest first."""
    return list(OutboxMessage.objects.order_by("-created_at", "-id")[:limit])


def outbox_message(*, pk: int) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(pk=pk).first()
