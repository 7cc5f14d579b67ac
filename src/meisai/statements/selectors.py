"""Reads of published statements for the member pages, the PDF and the CSV.

A member sees a statement only when it is published and its billing month is inside the
window of ``billing_calendar.visible_months`` (at most 13 months, never before the service
start). Every read here takes the member, so one member can never reach another's statement:
whatever is not visible to this member reads as ``None`` and the page answers 404.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from itertools import groupby

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncDate

from meisai import billing_calendar
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST, jst, now
from meisai.core.compiled_query import CompiledQuery
from meisai.members import delivery
from meisai.members.models import Card, Member
from meisai.points.models import PointBalance
from meisai.statements import fees
from meisai.statements.models import LineKind, Statement, StatementBalance, UsageLine, UserKind


@dataclass(frozen=True)
class FeeLine:
    """The paper fee of a statement (``Statement.fee_total``), printed as its last line.

    It carries the attributes the pages, the PDF and the CSV read on a usage line."""

    amount: int
    line_no: int
    kind: str = LineKind.PAPER_FEE
    merchant: str = fees.PAPER_FEE_TEXT
    card: Card | None = None
    card_id: int | None = None
    use_date: dt.date | None = None
    user_kind: str = ""
    payment_type: str = ""
    installment: str = ""
    note: str = ""

    @property
    def use_amount(self) -> int:
        return self.amount

    @property
    def billed_amount(self) -> int:
        return self.amount


#: A line of a statement: one of the member's usage lines of the month, or its paper fee.
Line = UsageLine | FeeLine


def visible_billing_months() -> list[BillingMonth]:
    """The billing months a member may see today, newest first."""
    return billing_calendar.visible_months(billing_calendar.latest_billing_month())


def published_statements(*, member: Member) -> QuerySet[Statement]:
    """The member's published statements inside the window, newest first."""
    ends = _window_ends()
    if ends is None:
        return Statement.objects.none()
    return _published_in_window(member.pk, newest=ends[0], oldest=ends[1])


def _window_ends() -> tuple[str, str] | None:
    """The newest and the oldest month of the window today (None before the service starts)."""
    months = visible_billing_months()
    return (str(months[0]), str(months[-1])) if months else None


def _published_in_window(member_id: int, *, newest: str, oldest: str) -> QuerySet[Statement]:
    # The window is a run of consecutive months (billing_calendar.visible_months), so it is
    # asked as a range: the same rows as ``IN (…)``, and its two ends can be a compiled query's
    # values (a list of months could not).
    return Statement.objects.filter(
        member_id=member_id,
        billing_month__gte=oldest,
        billing_month__lte=newest,
        published_at__isnull=False,
    ).order_by("-billing_month")


def published_statement(*, member: Member | int, month: BillingMonth) -> Statement | None:
    """The member's (a member or its id) statement of ``month`` if the member may see it, else
    None. The statement comes with its member."""
    if not billing_calendar.is_visible(month, billing_calendar.latest_billing_month()):
        return None
    member_id = member.pk if isinstance(member, Member) else member
    found = _published_statement(member_id=member_id, month=str(month))
    return found[0] if found else None


# Compiled once per connection (core/compiled_query.py): its eight subqueries cost more to
# compile than the statement costs to read. At most one row: one statement per member and month.
_published_statement = CompiledQuery(
    lambda member_id, month: _with_balance_and_points(
        Statement.objects.filter(
            member_id=member_id, billing_month=month, published_at__isnull=False
        ).select_related("member")
    )[:1],
    member_id=-1,
    month="9999-12",
)


def latest_published_statement(*, member: Member | int) -> Statement | None:
    """The member's (a member or its id) newest statement inside the window, or None."""
    ends = _window_ends()
    if ends is None:
        return None
    member_id = member.pk if isinstance(member, Member) else member
    found = _latest_published(member_id=member_id, newest=ends[0], oldest=ends[1])
    return found[0] if found else None


# The top page's read, compiled once per connection like the statement's.
_latest_published = CompiledQuery(
    lambda member_id, newest, oldest: _published_in_window(member_id, newest=newest, oldest=oldest)[
        :1
    ],
    member_id=-1,
    newest="9999-12",
    oldest="1900-01",
)


def statement_lines(*, statement: Statement) -> list[Line]:
    """Every line of a statement in print order: usage by card, user and date; the fee last.

    A statement's usage lines are the member's usage lines of its billing month (the close
    does not copy them; the database freezes them once the statement exists), followed by the
    paper fee when the statement carries one."""
    lines: list[Line] = list(
        _usage_lines(member_id=statement.member_id, month=str(statement.billing_month))
    )
    if statement.fee_total:
        lines.append(FeeLine(amount=statement.fee_total, line_no=statement.line_count))
    return sorted(lines, key=_line_order)


_CARD_UNPRINTED = tuple(
    f"card__{name}"
    for name in (
        "member",
        "product",
        "number_hash",
        "expiry",
        "is_active",
        "created_at",
        "updated_at",
    )
)

_usage_lines = CompiledQuery(
    lambda member_id, month: (
        UsageLine.objects.filter(billing_month=month, member_id=member_id)
        .select_related("card")
        # A line prints its card as the last four digits (``Card.masked``): the rest of the
        # card's row (its hash, its dates) is neither read nor turned into Python per line.
        .defer(*_CARD_UNPRINTED)
    ),
    member_id=-1,
    month="9999-12",
)

_USER_ORDER: dict[str, int] = {UserKind.SELF.value: 0, UserKind.FAMILY.value: 1}


def _line_order(line: Line) -> tuple[int, int, int, dt.date, int]:
    is_fee = line.kind == LineKind.PAPER_FEE
    return (
        1 if is_fee or line.card_id is None else 0,
        line.card_id or 0,
        _USER_ORDER.get(line.user_kind, 2),
        line.use_date or dt.date.min,
        line.line_no,
    )


@dataclass(frozen=True)
class LineGroup:
    """The lines of one card and one user (本人/家族), with their subtotal."""

    card: Card | None
    user_kind: str
    lines: list[Line]

    @property
    def billed_total(self) -> int:
        return sum(line.billed_amount for line in self.lines)


@dataclass(frozen=True)
class CardGroup:
    """The lines of one card, by user (本人 first, then 家族), with the card's one subtotal.

    The pages print one 小計 per card; the PDF keeps its layout of one per card and user, since
    a PDF once served must render to the same bytes for ever."""

    card: Card | None
    users: list[LineGroup]

    @property
    def billed_total(self) -> int:
        return sum(group.billed_total for group in self.users)


@dataclass(frozen=True)
class StatementView:
    """A statement as the pages, the PDF and the CSV show it."""

    statement: Statement
    month: BillingMonth
    groups: list[LineGroup]
    fee_lines: list[Line]
    other_lines: list[Line] = field(default_factory=list)
    #: The remaining 分割 and リボ balances after this month, when the core system sent them.
    balance: StatementBalance | None = None
    #: The point balance the statement states (see :func:`statement_points`), if any.
    points: PointBalance | None = None

    @property
    def lines(self) -> list[Line]:
        usage = [line for group in self.groups for line in group.lines]
        return usage + self.other_lines + self.fee_lines

    @property
    def cards(self) -> list[CardGroup]:
        """The groups by card: ``groups`` are in card order already (``statement_lines``)."""
        return [
            CardGroup(card=users[0].card, users=users)
            for users in (
                list(items) for _, items in groupby(self.groups, key=lambda group: group.card)
            )
        ]


def statement_view(*, statement: Statement) -> StatementView:
    lines = statement_lines(statement=statement)
    fee_lines = [line for line in lines if line.kind == LineKind.PAPER_FEE]
    usage = [line for line in lines if line.kind != LineKind.PAPER_FEE]
    carded = [line for line in usage if line.card_id is not None]
    other = [line for line in usage if line.card_id is None]
    groups = [
        LineGroup(card=group[0].card, user_kind=group[0].user_kind, lines=group)
        for group in (
            list(items)
            for _, items in groupby(carded, key=lambda line: (line.card_id, line.user_kind))
        )
    ]
    return StatementView(
        statement=statement,
        month=statement.billing_month,
        groups=groups,
        fee_lines=fee_lines,
        other_lines=other,
        balance=statement_balance(statement=statement),
        points=statement_points(statement=statement),
    )


# A first view reads the statement, its lines, its balances and its points. The balances and
# the points come with the statement's own query (``_with_balance_and_points``, used by
# ``published_statement``): two subqueries instead of two round trips and two ORM queries of
# their own. A statement read otherwise (the CSV's list, a test) has them read by the Python
# twins below; tests/statements/test_first_view_queries.py proves the two agree.

_BALANCE_FIELDS = ("id", "revolving_balance", "installment_balance")
_POINTS_FIELDS = ("id", "as_of", "balance", "expiring_points", "expires_on")


def _with_balance_and_points(statements: QuerySet[Statement]) -> QuerySet[Statement]:
    balance = StatementBalance.objects.filter(
        member_id=OuterRef("member_id"), billing_month=OuterRef("billing_month")
    ).order_by("id")
    # The SQL twin of ``statement_points``: as of the day (in Japan) the statement was confirmed.
    points = PointBalance.objects.filter(
        member_id=OuterRef("member_id"), as_of__lte=OuterRef("confirmed_day_")
    ).order_by("-as_of", "-id")
    return statements.annotate(confirmed_day_=TruncDate("confirmed_at", tzinfo=JST)).annotate(
        **{f"balance_{name}_": Subquery(balance.values(name)[:1]) for name in _BALANCE_FIELDS},
        **{f"points_{name}_": Subquery(points.values(name)[:1]) for name in _POINTS_FIELDS},
    )


def statement_balance(*, statement: Statement) -> StatementBalance | None:
    """The 分割 and リボ balances after the statement's month, if the core system sent them."""
    if hasattr(statement, "balance_id_"):
        if statement.balance_id_ is None:
            return None
        return StatementBalance(
            member_id=statement.member_id,
            billing_month=statement.billing_month,
            **{name: getattr(statement, f"balance_{name}_") for name in _BALANCE_FIELDS},
        )
    return (
        StatementBalance.objects.filter(
            member_id=statement.member_id, billing_month=statement.billing_month
        )
        .order_by("id")
        .first()
    )


def statement_points(*, statement: Statement) -> PointBalance | None:
    """The point balance a statement states: the core system's latest reported on or before
    the day the statement was confirmed, printed with its date.

    Pinned to that day, not the latest balance, because a statement's PDF must render to the
    same bytes for ever (its SHA-256 is recorded) while balances keep arriving every month.
    None when no balance was reported by then: the PDF then says nothing about points held.
    """
    if hasattr(statement, "points_id_"):
        if statement.points_id_ is None:
            return None
        return PointBalance(
            member_id=statement.member_id,
            **{name: getattr(statement, f"points_{name}_") for name in _POINTS_FIELDS},
        )
    return (
        PointBalance.objects.filter(
            member_id=statement.member_id, as_of__lte=jst(statement.confirmed_at).date()
        )
        .order_by("-as_of", "-id")
        .first()
    )


# --- the chart of monthly totals -------------------------------------------------------------


@dataclass(frozen=True)
class MonthTotal:
    month: BillingMonth
    total: int | None  # None: no statement that month


def monthly_totals(*, member: Member) -> list[MonthTotal]:
    """Every visible month, oldest first, with the total of its statement if there is one."""
    totals = dict(published_statements(member=member).values_list("billing_month", "total"))
    return [MonthTotal(month=m, total=totals.get(m)) for m in reversed(visible_billing_months())]


# --- the next statement's delivery -------------------------------------------------------------


@dataclass(frozen=True)
class NextDelivery:
    """How the next statement will be delivered, and why.

    ``fixed`` is True when the 9th cutoff of ``month`` has passed: a change now only decides
    ``change_affects`` (the month after).
    """

    month: BillingMonth
    method: str
    fixed: bool
    current_method: str
    change_affects: BillingMonth
    refusal: str | None
    cutoff_day: dt.date
    #: The fee a paper statement of ``month`` would cost this member, or None when none applies.
    paper_fee: int | None


def next_delivery(
    *, member: Member, at: dt.datetime | None = None, current: str | None = None
) -> NextDelivery:
    """``current``: the member's latest preference when the caller has read it already (the
    top page reads it for ``delivery_since``), so that it is not read twice."""
    moment = at or now()
    upcoming = billing_calendar.latest_billing_month(moment.astimezone(JST).date()).next()
    cutoff = billing_calendar.registration_cutoff(upcoming)
    if current is None:
        current = delivery.current_delivery_method(member=member)
    fixed = moment >= cutoff
    refusal = delivery.web_delivery_refusal(member=member)
    method = delivery.delivery_method_at(member=member, moment=cutoff) if fixed else current
    return NextDelivery(
        month=upcoming,
        method=method,
        fixed=fixed,
        current_method=current,
        change_affects=billing_calendar.first_month_affected(moment),
        refusal=refusal,
        cutoff_day=(cutoff - dt.timedelta(days=1)).date(),
        paper_fee=fees.paper_fee_for(member=member, month=upcoming) or None,
    )
