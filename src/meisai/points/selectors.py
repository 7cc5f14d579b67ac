"""Reads of the points domain for the member pages and the statement (SPEC 3.7).

The balance shown to a member is the core system's latest reported balance plus the campaign
grants meisai recorded after that report's date (``as_of``): a grant recorded on or before the
``as_of`` day is taken to be in the reported balance already, since the core system reports
balances at the end of a day; a later grant is added on top until the next report includes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from meisai.billing_calendar import BillingMonth
from meisai.clock import jst
from meisai.members.models import Member
from meisai.points.models import PointBalance, PointEntry


@dataclass(frozen=True)
class PointHistoryEntry:
    """One row of the history: a balance the core system reported, or a grant meisai made."""

    on: dt.date
    #: "balance" (imported balance, ``points`` is the balance) or "grant" (``points`` added).
    kind: str
    points: int
    label: str
    billing_month: BillingMonth | None = None


@dataclass(frozen=True)
class PointSummary:
    balance: int
    #: The day the balance is valid for; None when the member has no points data at all.
    as_of: dt.date | None
    expiring_points: int
    expires_on: dt.date | None
    history: list[PointHistoryEntry] = field(default_factory=list)


def point_summary(*, member: Member) -> PointSummary:
    """The member's balance, points about to expire and history, newest first."""
    balances = list(
        PointBalance.objects.filter(member=member)
        .order_by("-as_of", "-id")
        .only("as_of", "balance", "expiring_points", "expires_on")
    )
    grants = list(
        PointEntry.objects.filter(member=member)
        .select_related("campaign")
        .order_by("-recorded_at", "-id")
    )
    latest = balances[0] if balances else None
    grant_days = [(jst(entry.recorded_at).date(), entry) for entry in grants]
    since = [(day, entry) for day, entry in grant_days if latest is None or day > latest.as_of]
    balance = (latest.balance if latest else 0) + sum(entry.points for _, entry in since)
    days = [day for day, _ in since] + ([latest.as_of] if latest else [])
    history = [
        PointHistoryEntry(
            on=day,
            kind="grant",
            points=entry.points,
            label=entry.campaign.name if entry.campaign else entry.description,
            billing_month=entry.billing_month,
        )
        for day, entry in grant_days
    ] + [
        PointHistoryEntry(on=row.as_of, kind="balance", points=row.balance, label="ポイント残高")
        for row in balances
    ]
    # Newest first; on one day the grant comes above the balance it is added to.
    history.sort(key=lambda item: (item.on, item.kind == "grant"), reverse=True)
    return PointSummary(
        balance=balance,
        as_of=max(days) if days else None,
        expiring_points=latest.expiring_points if latest else 0,
        expires_on=latest.expires_on if latest else None,
        history=history,
    )
