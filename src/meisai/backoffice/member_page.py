"""Everything the console's page of one member shows, read in one place (the 会員詳細 page).

The member master (cards masked, products, exemptions), the delivery preference with its
history and the month a change would decide (SPEC 3.2), the web account (login ID, address,
legacy or registered, last login, the login lock, remembered browsers, a pending
re-registration), the registration attempts and the per-card registration lock (SPEC 3.4), the
statements by month, the points, every email queued for the member and the security events
(SPEC 3.10). Nothing here ever holds a whole card number, a password, a link or a code: an
email that carries a secret is shown by its kind, recipient, state and times only, and no
email's body is read at all.

Opening the page is a staff view of member data: :func:`member_page` writes its audit row
(``member_view``) in the same call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Q, Sum

from meisai.accounts.card_locks import card_locked_until
from meisai.accounts.login_ids import login_id_key
from meisai.accounts.models import Account, Registration
from meisai.accounts.staff_changes import member_account
from meisai.audit.models import SecurityEvent
from meisai.audit.security_events import KINDS
from meisai.audit.services import audit_record
from meisai.clock import now
from meisai.members.delivery import current_delivery_method, web_delivery_refusal
from meisai.members.models import Card, DeliveryPreference, Member, Product
from meisai.notifications.models import OutboxMessage
from meisai.points.selectors import PointSummary, point_summary
from meisai.statements.models import Statement
from meisai.statements.selectors import NextDelivery, next_delivery

#: How many security events and emails the page lists, newest first.
EVENT_LIMIT = 50
EMAIL_LIMIT = 100

#: Why an identity check of registration failed (``registration.py``'s reasons), phone first:
#: it is the one members can fix on the phone (the home number instead of the mobile).
FAILURE_REASONS: dict[str, str] = {
    "phone": "電話番号の不一致(カード・有効期限・生年月日は一致)",
    "card_data": "カード番号・有効期限・生年月日の不一致",
    "card_locked": "停止中の再試行",
}
REGISTRATION_KINDS = ("registration_failed", "registration_locked")


@dataclass(frozen=True)
class CardView:
    masked: str
    product: str
    program_excluded: bool
    expiry: str
    is_active: bool
    #: When the registration lock of this card ends; None when it is not locked.
    registration_locked_until: dt.datetime | None


@dataclass(frozen=True)
class LoginLock:
    failures: int
    locked_until: dt.datetime | None


@dataclass(frozen=True)
class AccountView:
    account: Account
    source: str
    last_login: dt.datetime | None
    lock: LoginLock
    remembered_browsers: int
    sessions: int


@dataclass(frozen=True)
class RegistrationAttempt:
    at: dt.datetime
    kind: str
    reason: str
    client: str
    until: str


@dataclass(frozen=True)
class EmailView:
    template: str
    to: str
    status: str
    secret: bool
    #: The subject of a plain email; empty for a secret one (withheld, SPEC 3.10).
    subject: str
    attempts: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    last_error: str


@dataclass(frozen=True)
class EventView:
    at: dt.datetime
    kind: str
    label: str
    login_id: str
    client: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class MemberPage:
    member: Member
    cards: list[CardView]
    products: list[Product]
    #: Why the member cannot stop paper (一部対象外, IRIS), or None.
    paper_only: str | None
    delivery_method: str
    next_delivery: NextDelivery
    delivery_history: list[DeliveryPreference]
    account: AccountView | None
    former_accounts: list[Account]
    pending_registrations: list[Registration]
    registration_attempts: list[RegistrationAttempt]
    failure_counts: list[tuple[str, int]]
    registration_locked_until: dt.datetime | None
    statements: list[Statement]
    points: PointSummary
    emails: list[EmailView]
    events: list[EventView] = field(default_factory=list)


def login_lock(*, login_id: str) -> LoginLock:
    """The failed logins django-axes counts for ``login_id`` within its cool-off, and the end
    of the lock when they reach the limit (``AXES_FAILURE_LIMIT``, ``AXES_COOLOFF_TIME``)."""
    cooloff = dt.timedelta(hours=settings.AXES_COOLOFF_TIME)
    attempts = AccessAttempt.objects.filter(
        username=login_id_key(login_id), attempt_time__gte=now() - cooloff
    )
    figures = attempts.aggregate(failures=Sum("failures_since_start"))
    failures = figures["failures"] or 0
    if failures < settings.AXES_FAILURE_LIMIT:
        return LoginLock(failures=failures, locked_until=None)
    latest = attempts.order_by("-attempt_time").values_list("attempt_time", flat=True).first()
    return LoginLock(failures=failures, locked_until=latest + cooloff if latest else None)


def _account_view(account: Account) -> AccountView:
    return AccountView(
        account=account,
        source=account.get_source_display(),
        last_login=account.last_login,
        lock=login_lock(login_id=account.login_id),
        remembered_browsers=account.browsers.count(),
        sessions=account.sessions.count(),
    )


def _cards(member: Member) -> list[CardView]:
    cards = (
        Card.objects.filter(member=member).select_related("product").order_by("-is_active", "id")
    )
    return [
        CardView(
            masked=card.masked,
            product=card.product.name,
            program_excluded=card.product.program_excluded,
            expiry=card.expiry,
            is_active=card.is_active,
            registration_locked_until=card_locked_until(card_hash=card.number_hash),
        )
        for card in cards
    ]


def _registration_attempts(member: Member) -> list[RegistrationAttempt]:
    events = SecurityEvent.objects.filter(member=member, kind__in=REGISTRATION_KINDS).order_by(
        "-at", "-id"
    )[:EVENT_LIMIT]
    return [
        RegistrationAttempt(
            at=event.at,
            kind=KINDS[event.kind],
            reason=FAILURE_REASONS.get(str(event.detail.get("reason", "")), ""),
            client=event.client,
            until=str(event.detail.get("until", "")),
        )
        for event in events
    ]


def _failure_counts(attempts: list[RegistrationAttempt]) -> list[tuple[str, int]]:
    return [
        (label, count)
        for label in FAILURE_REASONS.values()
        if (count := sum(1 for attempt in attempts if attempt.reason == label))
    ]


def _emails(member: Member) -> list[EmailView]:
    """Every email queued for the member: to any address the member or their accounts and
    registrations had, or keyed by the member number (the 請求額確定 emails)."""
    addresses = {member.email} if member.email else set()
    addresses |= set(Account.objects.filter(member=member).values_list("email", flat=True))
    addresses |= set(Registration.objects.filter(member=member).values_list("email", flat=True))
    addresses.discard("")
    messages = (
        OutboxMessage.objects.filter(
            Q(to__in=addresses)
            | Q(key__endswith=f":{member.member_no}")
            | Q(key__contains=f":{member.member_no}:")
        )
        # The bodies are never read here, not even a plain message's.
        .only(
            "template",
            "to",
            "status",
            "secret",
            "subject",
            "attempts",
            "created_at",
            "sent_at",
            "last_error",
        )  # fmt: skip
        .order_by("-created_at", "-id")[:EMAIL_LIMIT]
    )
    return [
        EmailView(
            template=message.template,
            to=message.to,
            status=message.get_status_display(),
            secret=message.secret,
            subject="" if message.secret else message.subject,
            attempts=message.attempts,
            created_at=message.created_at,
            sent_at=message.sent_at,
            last_error="" if message.secret else message.last_error,
        )
        for message in messages
    ]


def _events(member: Member) -> list[EventView]:
    return [
        EventView(
            at=event.at,
            kind=event.kind,
            label=KINDS.get(event.kind, event.kind),
            login_id=event.login_id,
            client=event.client,
            detail=event.detail,
        )
        for event in SecurityEvent.objects.filter(member=member).order_by("-at", "-id")[
            :EVENT_LIMIT
        ]
    ]


def member_page_data(*, member: Member) -> MemberPage:
    """The page of ``member``, as staff see it."""
    cards = _cards(member)
    account = member_account(member=member)
    attempts = _registration_attempts(member)
    locks = [card.registration_locked_until for card in cards if card.registration_locked_until]
    return MemberPage(
        member=member,
        cards=cards,
        products=list(Product.objects.filter(cards__member=member).distinct().order_by("code")),
        paper_only=web_delivery_refusal(member=member),
        delivery_method=current_delivery_method(member=member),
        next_delivery=next_delivery(member=member),
        delivery_history=list(
            DeliveryPreference.objects.filter(member=member).order_by("-recorded_at", "-id")
        ),
        account=_account_view(account) if account is not None else None,
        former_accounts=[
            other
            for other in Account.objects.filter(member=member).order_by("-created_at", "-id")
            if account is None or other.pk != account.pk
        ],
        pending_registrations=list(
            Registration.objects.filter(member=member, state=Registration.State.PENDING).order_by(
                "takes_effect_at"
            )
        ),
        registration_attempts=attempts,
        failure_counts=_failure_counts(attempts),
        registration_locked_until=max(locks) if locks else None,
        statements=list(Statement.objects.filter(member=member).order_by("-billing_month")),
        points=point_summary(member=member),
        emails=_emails(member),
        events=_events(member),
    )


def member_page(*, member_no: str, actor: str, client_ip: str | None) -> MemberPage | None:
    """The page of the member ``member_no`` (None when there is none), and the audit row of
    ``actor``'s look at it (``member_view``)."""
    member = Member.objects.filter(member_no=member_no).first()
    if member is None:
        return None
    page = member_page_data(member=member)
    audit_record(
        actor=actor,
        action="member_view",
        member=member,
        detail={"member_no": member.member_no},
        client_ip=client_ip,
    )
    return page
