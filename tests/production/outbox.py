"""What the sender's tests share besides their fixtures (conftest.py): mail queued, rows read."""

from __future__ import annotations

from meisai.notifications.models import OutboxMessage
from meisai.notifications.services import Email, email_enqueue_many


def queue(*addresses: str) -> None:
    email_enqueue_many(
        Email(
            key=f"operators:test:{address}",
            template="operators_month_not_closed",
            to=address,
            context={"month_label": "2025年6月請求分", "month": "2025-06"},
        )
        for address in addresses
    )


def states() -> dict[str, tuple[str, int]]:
    return {m.to: (m.status, m.attempts) for m in OutboxMessage.objects.all()}
