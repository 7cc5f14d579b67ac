"""Re-registration of a member who already has a web account or an enrolment (SPEC 3.4, flyer ②).

The card's printed data and a birth date are not enough to take an account over: whoever holds
the card can type them. So the new registration waits (``Registration.State.PENDING``) and the
existing account keeps working. The owner's addresses (the active account's and the member
master's, when they differ) get a notice with two links, each opening a page with a button:
「すぐに切り替える」 (the owner re-registered and wants the new ID now) and 「心当たりがない」
(cancel). Without a cancellation the new account takes over ``MEISAI_REREGISTRATION_WAIT_HOURS``
after completion: the scheduler's ``reregistrations_take_effect`` runs every minute, and a login
with the new ID runs it for that ID first, so the moment the completion page states holds. A
member with no reachable address simply waits. Nothing reaches the ACS export before the
takeover, because the enrolment is made by it (``account_creation``).

A newer re-registration of the same member replaces a pending one (its clock starts again).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy

from meisai.accounts.account_creation import account_from_registration
from meisai.accounts.links import site_url
from meisai.accounts.models import Account, Registration
from meisai.accounts.refusals import Refused
from meisai.accounts.selectors import registration_for_takeover_token
from meisai.accounts.tokens import token_issue
from meisai.audit.security_events import security_event
from meisai.audit.services import audit_record
from meisai.clock import jst, now
from meisai.members.models import Member
from meisai.notifications.services import email_enqueue

#: The token purpose of the notice's two links.
TAKEOVER_PURPOSE = "reregister-decide"
INVALID_LINK = gettext_lazy(
    "このURLは無効です(お手続きは既に切り替わったか、取り消されています)。"
    "ご不明な点はカード裏面の電話番号へお問い合わせください。"
)


def reregistration_wait() -> dt.timedelta:
    return dt.timedelta(hours=settings.MEISAI_REREGISTRATION_WAIT_HOURS)


def owner_addresses(member: Member) -> list[str]:
    """Where the owner is told: the active account's address, then the member master's when it
    is another one (compared without regard to case)."""
    addresses: list[str] = []
    candidates = [
        *Account.objects.filter(member=member, is_active=True).values_list("email", flat=True),
        member.email,
    ]
    for address in candidates:
        if address and address.lower() not in {known.lower() for known in addresses}:
            addresses.append(address)
    return addresses


def reregistration_hold(*, registration: Registration, moment: dt.datetime) -> None:
    """Make a completed re-registration wait, and tell the owner's addresses and the new one.

    Runs in ``registration_complete``'s transaction with the registration and its member locked.
    """
    member = registration.member
    assert member is not None
    superseded = list(
        Registration.objects.select_for_update()
        .filter(member=member, state=Registration.State.PENDING)
        .exclude(pk=registration.pk)
    )
    for earlier in superseded:
        _end(earlier, ending=Registration.Ending.SUPERSEDED, moment=moment)
    token, hashed = token_issue(purpose=TAKEOVER_PURPOSE)
    registration.state = Registration.State.PENDING
    registration.takes_effect_at = moment + reregistration_wait()
    registration.takeover_token_hash = hashed
    registration.save(update_fields=["state", "takes_effect_at", "takeover_token_hash"])
    addresses = owner_addresses(member)
    old_login_ids = list(
        Account.objects.filter(member=member, is_active=True).values_list("login_id", flat=True)
    )
    for address in addresses:
        email_enqueue(
            key=f"reregistration-notice:{registration.pk}:{address.lower()}",
            template="reregistration_notice",
            to=address,
            context={
                "requested_at": jst(moment),
                "takes_effect_at": jst(registration.takes_effect_at),
                "old_login_ids": old_login_ids,
                "new_email": masked_email(registration.email),
                "confirm_url": site_url(reverse("accounts:reregister_confirm", args=[token])),
                "cancel_url": site_url(reverse("accounts:reregister_cancel", args=[token])),
            },
        )
    email_enqueue(
        key=f"reregistration-pending:{registration.pk}",
        template="reregistration_pending",
        to=registration.email,
        context={
            "login_id": registration.login_id,
            "takes_effect_at": jst(registration.takes_effect_at),
        },
    )
    security_event(
        "reregistration_held",
        member=member,
        login_id=registration.login_id,
        takes_effect_at=jst(registration.takes_effect_at).isoformat(timespec="seconds"),
        notified=len(addresses),
    )
    audit_record(
        actor=registration.login_id,
        action="account_reregistration_hold",
        member=member,
        detail={
            "takes_effect_at": jst(registration.takes_effect_at).isoformat(timespec="seconds"),
            "notified": len(addresses),
            "superseded": [earlier.login_id for earlier in superseded],
        },
    )


@transaction.atomic
def reregistration_confirm(*, token: str) -> Registration:
    """「すぐに切り替える」 from the notice: the owner's address confirms, the account is made."""
    registration = _pending_locked(token)
    try:
        _take_effect(registration, took_effect="owner", moment=now())
    except TakeoverImpossible as impossible:
        # Rolled back whole; the scheduler ends it (and tells the new address) when it is due.
        raise Refused(impossible.message) from impossible
    return registration


@transaction.atomic
def reregistration_cancel(*, token: str) -> Registration:
    """「心当たりがない」 from the notice: the re-registration ends; nothing of the member changes."""
    registration = _pending_locked(token)
    _end(registration, ending=Registration.Ending.OWNER, moment=now())
    return registration


def reregistrations_take_effect(*, login_id: str | None = None) -> int:
    """Let every pending re-registration whose wait is over take effect (only the one of
    ``login_id`` when given). Each in its own transaction, so one that cannot (its login ID was
    taken meanwhile, its card was cancelled) ends on its own. Returns how many took effect."""
    due = Registration.objects.filter(
        state=Registration.State.PENDING, takes_effect_at__lte=now()
    ).order_by("takes_effect_at")
    if login_id is not None:
        due = due.filter(login_id__iexact=login_id)
    made = 0
    for pk in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            registration = (
                Registration.objects.select_for_update(of=("self",))
                .select_related("consent", "member", "card")
                .filter(pk=pk, state=Registration.State.PENDING, takes_effect_at__lte=now())
                .first()
            )
            if registration is not None:
                made += _take_effect_or_end(registration)
    return made


def _take_effect_or_end(registration: Registration) -> int:
    moment = now()
    try:
        with transaction.atomic():
            _take_effect(registration, took_effect="wait", moment=moment)
    except TakeoverImpossible as impossible:
        _end(registration, ending=impossible.ending, moment=moment)
        return 0
    return 1


def _pending_locked(token: str) -> Registration:
    found = registration_for_takeover_token(token=token, purpose=TAKEOVER_PURPOSE)
    registration = (
        Registration.objects.select_for_update(of=("self",))
        .select_related("consent", "member", "card")
        .filter(pk=found.pk, state=Registration.State.PENDING, takes_effect_at__gt=now())
        .first()
        if found
        else None
    )
    if registration is None:
        raise Refused(INVALID_LINK)
    return registration


class TakeoverImpossible(Exception):
    """The re-registration can no longer take effect; ``ending`` says why."""

    def __init__(self, ending: str, message: str) -> None:
        super().__init__(message)
        self.ending = ending
        self.message = message


def _take_effect(registration: Registration, *, took_effect: str, moment: dt.datetime) -> None:
    """The takeover: the member (locked) and card must still be live; then the account is made."""
    assert registration.member is not None and registration.card is not None
    member = Member.objects.select_for_update().get(pk=registration.member.pk)
    registration.member = member
    if not member.is_active or not registration.card.is_active:
        raise TakeoverImpossible(Registration.Ending.CARD_INACTIVE, str(INVALID_LINK))
    try:
        account_from_registration(registration=registration, moment=moment, took_effect=took_effect)
    except Refused as refusal:
        raise TakeoverImpossible(Registration.Ending.LOGIN_ID_TAKEN, refusal.message) from refusal


def _end(registration: Registration, *, ending: str, moment: dt.datetime) -> None:
    """End a pending re-registration without effect, audit it and tell the new address."""
    registration.state = Registration.State.CANCELLED
    registration.cancelled_at = moment
    registration.ending = ending
    registration.takeover_token_hash = None
    registration.save(update_fields=["state", "cancelled_at", "ending", "takeover_token_hash"])
    security_event(
        "reregistration_ended",
        member=registration.member,
        login_id=registration.login_id,
        ending=ending,
    )
    audit_record(
        actor=registration.login_id if ending != Registration.Ending.OWNER else "owner-notice",
        action="account_reregistration_end",
        member=registration.member,
        detail={"login_id": registration.login_id, "ending": ending},
    )
    email_enqueue(
        key=f"reregistration-ended:{registration.pk}",
        template="reregistration_ended",
        to=registration.email,
        context={
            "login_id": registration.login_id,
            "at": jst(moment),
            "by_owner": ending == Registration.Ending.OWNER,
        },
    )


def masked_email(address: str) -> str:
    """``h*****@example.jp``: enough for the owner to recognise an address of their own, not
    enough to read someone else's out of the notice."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 3)}@{domain}"
