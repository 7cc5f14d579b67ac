"""Publication of a closed month (SPEC 3.6): statements become visible, the 請求額確定 email goes out,
on the confirmation day by the scheduler (:func:`confirmation_day_run`) or by hand.

``published_at`` of the month's statements and one outbox row per member with an active web
account are written in one transaction; the sender delivers the rows after commit. The outbox
key ``statement_confirmed:YYYY-MM:<member_no>`` makes each member's email once-only whether
publish runs again or a sender dies halfway.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce, Concat, NullIf

from meisai import billing_calendar as cal
from meisai.accounts.models import Account
from meisai.audit.services import audit_record
from meisai.billing_calendar import BillingMonth
from meisai.clock import now
from meisai.core.jobs import job_counts
from meisai.members.models import Member
from meisai.notifications.services import Email, email_enqueue_many, email_enqueue_query
from meisai.statements import month_rules
from meisai.statements.models import MonthClose, Statement
from meisai.statements.selectors import published_statement

logger = logging.getLogger(__name__)

EMAIL_TEMPLATE = "statement_confirmed"


class PublishRefused(ValueError):
    """The month cannot be published (before the service start, or not closed yet); the message
    says why, in Japanese."""


@dataclass(frozen=True)
class PublishResult:
    month: BillingMonth
    #: Statements that became visible in this run (0 when publishing again).
    statements_published: int
    #: Emails queued in this run (members already emailed for the month are not counted).
    emails_queued: int
    #: When the month was first published.
    published_at: dt.datetime
    #: True when this run published the month for the first time.
    first_publication: bool

    def report_lines(self) -> list[str]:
        head = (
            f"{self.month.label}: 公開しました。"
            if self.first_publication
            else f"{self.month.label}: 公開済みです(未送信分のみ処理)。"
        )
        return [
            head,
            f"  公開した明細書: {self.statements_published:,}件",
            f"  請求額確定メール: {self.emails_queued:,}通を送信待ちにしました",
        ]


def email_key(month: BillingMonth, member_no: str) -> str:
    return f"{EMAIL_TEMPLATE}:{month}:{member_no}"


def _recipients(month: BillingMonth) -> QuerySet[Any, Any]:
    """One row per member with an active web account and a statement of ``month``: the email's
    key, its address (the account's, else the member master's; none without either) and the
    member's name."""
    return (
        Account.objects.filter(
            is_active=True,
            member__isnull=False,
            member__statements__billing_month=month,
        )
        .exclude(email="", member__email="")
        .values(
            key=Concat(Value(email_key(month, "")), F("member__member_no")),
            to=Coalesce(NullIf(F("email"), Value("")), F("member__email")),
            name=F("member__name_kanji"),
        )
    )


def confirmation_context(month: BillingMonth) -> dict[str, str]:
    """What every member's 請求額確定 email of ``month`` says besides the member's name.

    No amount and no card number (SPEC 3.6): the name, the month and the link only."""
    return {"month_label": month.label, "statement_path": f"statements/{month}/"}


def confirmation_email(*, key: str, month: BillingMonth, name: str, to: str) -> Email:
    """The 請求額確定 email of ``month`` to one member, under ``key``."""
    return Email(
        key=key,
        template=EMAIL_TEMPLATE,
        to=to,
        context={"name": name, **confirmation_context(month)},
    )


def statement_publish_check(*, month: BillingMonth) -> None:
    """Raise :class:`PublishRefused` for a month before the service start (month_rules): its
    statements could never be shown, so its email would link to a page that answers 404."""
    outside = month_rules.before_service_start(month)
    if outside:
        raise PublishRefused(f"{outside}、公開できません。")


def statement_publish(*, month: BillingMonth, actor: str) -> PublishResult:
    """Publish a closed month; running it again queues only emails not queued before.

    Refused (:class:`PublishRefused`) for a month before the service start or not closed."""
    statement_publish_check(month=month)
    with transaction.atomic():
        record = MonthClose.objects.select_for_update().filter(billing_month=month).first()
        if record is None or record.status != MonthClose.Status.CONFIRMED:
            raise PublishRefused(
                f"{month.label}はまだ締め処理が完了していないため公開できません"
                f"(先に meisai close {month} を実行してください)。"
            )
        moment = now()
        first = record.published_at is None
        published = Statement.objects.filter(billing_month=month, published_at__isnull=True).update(
            published_at=moment
        )
        if first:
            record.published_at = moment
            record.published_by = actor
            record.save(update_fields=["published_at", "published_by"])
        # One INSERT … SELECT; members emailed before are skipped by the outbox's unique key.
        queued = email_enqueue_query(
            template=EMAIL_TEMPLATE, context=confirmation_context(month), rows=_recipients(month)
        )
        audit_record(
            actor=actor,
            action="statement_publish",
            detail={"month": str(month), "statements": published, "emails": queued},
        )
        assert record.published_at is not None
        return PublishResult(
            month=month,
            statements_published=published,
            emails_queued=queued,
            published_at=record.published_at,
            first_publication=first,
        )


@transaction.atomic
def statement_confirmed_resend(
    *, member: Member, month: BillingMonth, actor: str, reason: str, client_ip: str | None = None
) -> str:
    """Send ``member``'s 請求額確定 email of ``month`` again, on the member's request (a staff
    action with a reason); returns the address it goes to.

    The email is the one publication sends, under a key of its own (the resend's audit row
    names it), so that the once-only key of publication keeps its meaning. Refused
    (:class:`PublishRefused`) when the member could not open the statement it links to (none
    published in the window) or has no active web account with an address.
    """
    reason = reason.strip()
    if not reason:
        raise ValueError("a resend needs a reason")
    if published_statement(member=member, month=month) is None:
        raise PublishRefused(f"{month.label}の明細書は公開されていないため、再送できません。")
    account = Account.objects.filter(member=member, is_active=True).first()
    to = (account.email or member.email) if account is not None else ""
    if not to:
        raise PublishRefused("有効なWEBアカウントとメールアドレスがないため、再送できません。")
    entry = audit_record(
        actor=actor,
        action="statement_confirmed_resend",
        member=member,
        detail={"month": str(month), "reason": reason, "to": to},
        client_ip=client_ip,
    )
    key = f"{email_key(month, member.member_no)}:resend:{entry.pk}"
    email_enqueue_many([confirmation_email(key=key, month=month, name=member.name_kanji, to=to)])
    return to


def statement_publish_due(*, today: dt.date) -> PublishResult | None:
    """For the scheduler: publish the month whose confirmation day (請求額確定) is ``today``.

    Returns None when today is no confirmation day, the month is before the service start or
    already published; raises :class:`PublishRefused` when the month is due but not closed, so
    the failure is seen.
    """
    month = BillingMonth.of(today)
    if cal.confirmation_date(month) != today or month_rules.before_service_start(month):
        return None
    record = MonthClose.objects.filter(billing_month=month).first()
    if record is not None and record.published_at is not None:
        return None
    return statement_publish(month=month, actor="scheduler")


def operators_alert_not_closed(*, month: BillingMonth, today: dt.date) -> int:
    """Tell every operator address that ``month`` reached its confirmation day unclosed.

    One email per address per day: the key names the day, so a second run of the same day's
    schedule queues nothing.
    """
    emails = [
        Email(
            key=f"operators:month-not-closed:{month}:{today.isoformat()}:{address}",
            template="operators_month_not_closed",
            to=address,
            context={
                "month_label": month.label,
                "month": str(month),
                "confirmation_date": cal.confirmation_date(month),
                "today": today,
            },
        )
        for address in settings.MEISAI_OPERATOR_EMAILS
    ]
    return email_enqueue_many(emails) if emails else 0


def confirmation_day_run(*, today: dt.date) -> dict[str, Any]:
    """The scheduler's daily look at the calendar (SPEC 3.6).

    From the confirmation day of the current billing month on: if the month is closed and not yet
    published, publish it; if it is not closed, email the operators, every day until someone
    closes it. A month before the service start is never published nor reported.
    """
    month = BillingMonth.of(today)
    if month_rules.before_service_start(month):
        return {"month": str(month), "action": "before_service_start"}
    confirmation = cal.confirmation_date(month)
    if today < confirmation:
        return {"month": str(month), "action": "none"}
    record = MonthClose.objects.filter(
        billing_month=month, status=MonthClose.Status.CONFIRMED
    ).first()
    if record is None:
        alerted = operators_alert_not_closed(month=month, today=today)
        logger.warning(
            "confirmation day of %s: month not closed, %d operators told", month, alerted
        )
        return {"month": str(month), "action": "operators_alerted", "emails": alerted}
    if record.published_at is not None:
        return {"month": str(month), "action": "already_published"}
    # On the day itself through the service's own rule; a month closed late is published by the
    # first run after its close.
    if today == confirmation:
        result = statement_publish_due(today=today)
    else:
        result = statement_publish(month=month, actor="scheduler")
    return {"month": str(month), "action": "published", **job_counts(result)}
