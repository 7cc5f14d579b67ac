"""The figures of the staff dashboard (``/backoffice/``): counts and sums only, no member data.

One grouped query per series, never one per month, so the page costs the same in its third
year as in its first. Months run from the service start (``MEISAI_SERVICE_START``, 2024-11) to
the current month; a month without data is a row of zeros, not a gap.

What each figure is, so that anyone can recompute it with one query:

* **WEB registrations** — registrations completed (an account made, ``Registration.completed_at``)
  in the calendar month, JST. A re-registration waiting for its owner counts once it takes effect.
* **Statements** — per billing month: statements, those delivered on the web and on paper, the
  web share (web / all, percent to one decimal, half up), and the fee revenue (the sum of
  ``Statement.fee_total``, yen including tax).
* **Campaign grants** — per campaign and grant month: members granted and points
  (``PointEntry`` of kind campaign).
* **Registration funnel** — every registration since the start: started (the address given and
  the 登録手続きURL sent), identity passed (the 登録手続きURL was used and the identity check
  held; this is also the first moment the address is known to work, because opening an emailed
  link records nothing, SPEC 3.4), the 完了手続きURL sent, completed. The failure reasons are the
  ``registration_failed`` security events by reason (card data, phone, card locked); a failure
  for a card meisai does not know is only logged (SPEC 3.10), so it is in no count here.
* **Emails** — outbox messages by the calendar month (JST) they were queued in, by state: sent,
  failed for good, still pending. Bounces are not counted: the relay accepts the mail and a
  bounce goes back to the envelope sender's mailbox, which meisai does not read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from meisai.accounts.models import Account, Registration
from meisai.audit.models import SecurityEvent
from meisai.billing_calendar import BillingMonth, service_start
from meisai.clock import JST, today_jst
from meisai.core.models import Job
from meisai.imports.models import ImportBatch
from meisai.members.models import Member
from meisai.notifications.models import OutboxMessage
from meisai.points.models import PointEntry
from meisai.statements.models import MonthClose, Statement

#: How the page names each reason of a failed identity check (``accounts/registration.py``).
FAILURE_REASONS = {
    "card_data": "カード情報・生年月日の不一致",
    "phone": "電話番号の不一致",
    "card_locked": "カードの登録停止中",
}


@dataclass(frozen=True)
class MonthFigures:
    """One month of every monthly series."""

    month: BillingMonth
    registrations: int
    statements: int
    web_statements: int
    paper_statements: int
    fee_revenue: int
    emails_sent: int
    emails_failed: int
    emails_pending: int

    @property
    def web_share(self) -> Decimal | None:
        """Percent of the month's statements delivered on the web; None without statements."""
        return web_share(self.web_statements, self.statements)


@dataclass(frozen=True)
class CampaignGrants:
    code: str
    name: str
    month: BillingMonth
    members: int
    points: int


@dataclass(frozen=True)
class Funnel:
    started: int
    identity_passed: int
    completion_sent: int
    completed: int

    def steps(self) -> list[tuple[str, str, int]]:
        """(key, label, count) in the order a registrant goes through them."""
        return [
            ("started", "登録開始(登録手続きURL送信)", self.started),
            ("identity_passed", "メール確認・本人確認通過", self.identity_passed),
            ("completion_sent", "完了手続きURL送信", self.completion_sent),
            ("completed", "登録完了", self.completed),
        ]


@dataclass(frozen=True)
class FailureReason:
    reason: str
    label: str
    count: int


@dataclass(frozen=True)
class Dashboard:
    members: int
    active_members: int
    web_accounts: int
    outbox_pending: int
    outbox_failed: int
    months: list[MonthFigures]
    campaigns: list[CampaignGrants]
    funnel: Funnel
    failures: list[FailureReason]
    imports: list[ImportBatch]
    closes: list[MonthClose]
    jobs: list[Job]


def web_share(web: int, total: int) -> Decimal | None:
    """``web / total`` as a percent with one decimal, rounded half up."""
    if not total:
        return None
    return (Decimal(web * 100) / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def dashboard_months(today: dt.date | None = None) -> list[BillingMonth]:
    """The service start to the current month, oldest first."""
    first, last = service_start(), BillingMonth.of(today or today_jst())
    return [first.plus(n) for n in range(max(last.months_since(first) + 1, 0))]


def _start_moment() -> dt.datetime:
    first = service_start()
    return dt.datetime(first.year, first.month, 1, tzinfo=JST)


def _by_calendar_month(rows: Iterable[Mapping[str, Any]]) -> dict[BillingMonth, dict[str, Any]]:
    found: dict[BillingMonth, dict[str, Any]] = {}
    for row in rows:
        moment = row["month"]
        if moment is not None:
            found[BillingMonth(moment.year, moment.month)] = dict(row)
    return found


def registrations_by_month() -> dict[BillingMonth, int]:
    rows = (
        Registration.objects.filter(completed_at__gte=_start_moment())
        .annotate(month=TruncMonth("completed_at", tzinfo=JST))
        .values("month")
        .annotate(count=Count("id"))
        .order_by()
    )
    return {month: row["count"] for month, row in _by_calendar_month(rows).items()}


def statements_by_month() -> dict[BillingMonth, dict[str, int]]:
    rows = (
        Statement.objects.filter(billing_month__gte=service_start())
        .values("billing_month")
        .annotate(
            statements=Count("id"),
            web=Count("id", filter=Q(delivery=Statement.Delivery.WEB)),
            paper=Count("id", filter=Q(delivery=Statement.Delivery.PAPER)),
            fees=Sum("fee_total"),
        )
        .order_by()
    )
    return {
        row["billing_month"]: {
            "statements": row["statements"],
            "web": row["web"],
            "paper": row["paper"],
            "fees": row["fees"] or 0,
        }
        for row in rows
    }


def emails_by_month() -> dict[BillingMonth, dict[str, int]]:
    rows = (
        OutboxMessage.objects.filter(created_at__gte=_start_moment())
        .annotate(month=TruncMonth("created_at", tzinfo=JST))
        .values("month")
        .annotate(
            sent=Count("id", filter=Q(status=OutboxMessage.Status.SENT)),
            failed=Count("id", filter=Q(status=OutboxMessage.Status.FAILED)),
            pending=Count("id", filter=Q(status=OutboxMessage.Status.PENDING)),
        )
        .order_by()
    )
    return _by_calendar_month(rows)


def campaign_grants() -> list[CampaignGrants]:
    rows = (
        PointEntry.objects.filter(kind=PointEntry.Kind.CAMPAIGN)
        .values("campaign__code", "campaign__name", "billing_month")
        .annotate(members=Count("member_id", distinct=True), points=Sum("points"))
        .order_by("billing_month", "campaign__code")
    )
    return [
        CampaignGrants(
            code=row["campaign__code"] or "",
            name=row["campaign__name"] or "",
            month=row["billing_month"],
            members=row["members"],
            points=row["points"] or 0,
        )
        for row in rows
    ]


def registration_funnel() -> Funnel:
    figures = Registration.objects.aggregate(
        started=Count("id"),
        identity_passed=Count("id", filter=Q(email_token_used_at__isnull=False)),
        completion_sent=Count("id", filter=Q(completion_token_expires_at__isnull=False)),
        completed=Count("id", filter=Q(completed_at__isnull=False)),
    )
    return Funnel(**figures)


def registration_failures() -> list[FailureReason]:
    """Failed identity checks by reason, the known reasons first (zeros included)."""
    rows = (
        SecurityEvent.objects.filter(kind="registration_failed")
        .values("detail__reason")
        .annotate(count=Count("id"))
        .order_by()
    )
    counts = {str(row["detail__reason"]): row["count"] for row in rows}
    reasons = [*FAILURE_REASONS, *sorted(set(counts) - set(FAILURE_REASONS))]
    return [
        FailureReason(reason=r, label=FAILURE_REASONS.get(r, r), count=counts.get(r, 0))
        for r in reasons
    ]


def dashboard_figures(today: dt.date | None = None) -> Dashboard:
    members = Member.objects.aggregate(
        total=Count("id"), active=Count("id", filter=Q(status=Member.Status.ACTIVE))
    )
    outbox = OutboxMessage.objects.aggregate(
        pending=Count("id", filter=Q(status=OutboxMessage.Status.PENDING)),
        failed=Count("id", filter=Q(status=OutboxMessage.Status.FAILED)),
    )
    registrations = registrations_by_month()
    statements = statements_by_month()
    emails = emails_by_month()
    no_statements = {"statements": 0, "web": 0, "paper": 0, "fees": 0}
    no_emails = {"sent": 0, "failed": 0, "pending": 0}
    months = []
    for month in dashboard_months(today):
        issued = statements.get(month, no_statements)
        mail = emails.get(month, no_emails)
        months.append(
            MonthFigures(
                month=month,
                registrations=registrations.get(month, 0),
                statements=issued["statements"],
                web_statements=issued["web"],
                paper_statements=issued["paper"],
                fee_revenue=issued["fees"],
                emails_sent=mail["sent"],
                emails_failed=mail["failed"],
                emails_pending=mail["pending"],
            )
        )
    return Dashboard(
        members=members["total"],
        active_members=members["active"],
        web_accounts=Account.objects.filter(is_active=True, member__isnull=False).count(),
        outbox_pending=outbox["pending"],
        outbox_failed=outbox["failed"],
        months=months,
        campaigns=campaign_grants(),
        funnel=registration_funnel(),
        failures=registration_failures(),
        imports=list(ImportBatch.objects.order_by("-started_at", "-id")[:5]),
        closes=list(MonthClose.objects.order_by("-billing_month")[:3]),
        jobs=list(Job.objects.order_by("-queued_at", "-id")[:10]),
    )
