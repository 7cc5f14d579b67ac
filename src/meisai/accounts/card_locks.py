"""The per-card lock of registration (SPEC 3.4): five failed identity checks for one card within
24 hours lock registering with that card for 24 hours from the fifth.

A card is known here only by its keyed hash (``meisai.card_numbers.card_hash``), so a failure
row says nothing about the card to anyone who reads the database.
"""

from __future__ import annotations

import datetime as dt

from meisai.accounts.models import RegistrationFailure
from meisai.clock import now

CARD_FAILURE_LIMIT = 5
CARD_FAILURE_WINDOW = dt.timedelta(hours=24)
CARD_LOCK_DURATION = dt.timedelta(hours=24)


def card_locked_until(*, card_hash: str) -> dt.datetime | None:
    """The end of the lock on registering with this card, or None when it is not locked."""
    moment = now()
    since = moment - CARD_FAILURE_WINDOW - CARD_LOCK_DURATION
    times = list(
        RegistrationFailure.objects.filter(card_hash=card_hash, at__gt=since)
        .order_by("at")
        .values_list("at", flat=True)
    )
    for index in range(CARD_FAILURE_LIMIT - 1, len(times)):
        first, fifth = times[index - CARD_FAILURE_LIMIT + 1], times[index]
        if fifth - first < CARD_FAILURE_WINDOW and fifth + CARD_LOCK_DURATION > moment:
            return fifth + CARD_LOCK_DURATION
    return None


def card_failure_record(*, card_hash: str) -> None:
    """Count one failed identity check against the card."""
    RegistrationFailure.objects.create(card_hash=card_hash, at=now())
