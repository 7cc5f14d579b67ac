"""Reads of the points domain for the member pages and the statement (SPEC 3.7).

The balance shown to a member is the core system's latest reported balance plus the campaign
grants meisai recorded after that report's date (``as_of``): a grant recorded on or before the
``as_of`` day is taken to be in the reported balance already, since the core system reports
balances at the end of a day; a later grant is added on top until the next report includes it.

The pages tell campaigns from here too: :func:`campaigns_open` (offered while the window is open)
and :func:`campaigns_promised` (points a qualifying member is still to receive).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils.translation import gettext

from meisai.billing_calendar import BillingMonth
from meisai.clock import JST, jst, now
from meisai.core.compiled_query import CompiledQuery
from meisai.members.models import Member
from meisai.points.eligibility import campaign_qualifies, campaign_window_bounds, grant_day
from meisai.points.models import Campaign, PointBalance, PointEntry


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


# The two reads of every top page and points page, compiled once per connection
# (core/compiled_query.py): building their SQL cost more than running it.
_balances = CompiledQuery(
    lambda member_id: (
        PointBalance.objects.filter(member_id=member_id)
        .order_by("-as_of", "-id")
        .only("as_of", "balance", "expiring_points", "expires_on")
    ),
    member_id=-1,
)
_grants = CompiledQuery(
    lambda member_id: (
        PointEntry.objects.filter(member_id=member_id)
        .select_related("campaign")
        .order_by("-recorded_at", "-id")
    ),
    member_id=-1,
)


def point_summary(*, member: Member | int) -> PointSummary:
    """The member's (a member or its id) balance, points about to expire and history, newest
    first."""
    member_id = member.pk if isinstance(member, Member) else member
    balances = _balances(member_id=member_id)
    grants = _grants(member_id=member_id)
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
            label=campaign_name(entry.campaign.name) if entry.campaign else entry.description,
            billing_month=entry.billing_month,
        )
        for day, entry in grant_days
    ] + [
        PointHistoryEntry(
            on=row.as_of, kind="balance", points=row.balance, label=gettext("ポイント残高")
        )
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


# --- campaigns as the pages tell them --------------------------------------------------------


def campaign_name(name: str) -> str:
    """A campaign's name in the active language: the issuer names its campaigns in Japanese, and
    the catalogue holds the English of the flyer's (``points.services.DEFAULT_CAMPAIGN_NAME``);
    any other name is shown as the issuer wrote it."""
    # gettext("") would answer the catalogue's header.
    return gettext(name) if name else name


@dataclass(frozen=True)
class CampaignTerms:
    """A campaign as a member reads it (the flyer's wording takes these values)."""

    code: str
    name: str
    first_day: dt.date
    last_day: dt.date
    points: int
    grant_month: BillingMonth
    #: The names of the products left out (the IRIS card), for 「…は対象外となります」.
    excluded_products: list[str]


def _terms(campaign: Campaign) -> CampaignTerms:
    return CampaignTerms(
        code=campaign.code,
        name=campaign_name(campaign.name),
        first_day=jst(campaign.window_start).date(),
        last_day=jst(campaign.window_end).date(),
        points=campaign.points,
        grant_month=campaign.grant_month,
        excluded_products=[product.name for product in campaign.excluded_products.all()],
    )


def campaigns_open(*, at: dt.datetime | None = None) -> list[CampaignTerms]:
    """The campaigns whose registration window holds ``at`` (now): those a page may offer."""
    moment = at or now()
    candidates = Campaign.objects.filter(window_start__lte=moment).prefetch_related(
        "excluded_products"
    )
    return [
        _terms(campaign)
        for campaign in candidates.order_by("window_start", "code")
        # The end is inclusive to the last second (eligibility.campaign_window_bounds).
        if moment < campaign_window_bounds(campaign)[1]
    ]


def campaigns_promised(*, member: Member, at: dt.datetime | None = None) -> list[CampaignTerms]:
    """The campaigns whose points ``member`` is to receive and has not received yet.

    A member who qualifies today (``eligibility.campaign_qualifies``) is told the points come
    with the grant month's statement, until that statement's confirmation day; afterwards the
    grant itself is in the history (or, cancelled meanwhile, the member no longer qualifies).
    """
    today = (at or now()).astimezone(JST).date()
    granted = PointEntry.objects.filter(member=member, campaign__isnull=False).values("campaign")
    candidates = (
        Campaign.objects.exclude(pk__in=granted)
        .prefetch_related("excluded_products")
        .order_by("window_start", "code")
    )
    return [
        _terms(campaign)
        for campaign in candidates
        if today <= grant_day(campaign) and campaign_qualifies(member=member, campaign=campaign)
    ]
