"""Reads of the accounts domain: what the registration, login and recovery pages look up, and
the login-ID availability that registration checks.

Every read a view needs is here, so views never query a model themselves. A read that an emailed
link starts from refuses a forged or stale token before it touches the database.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from meisai.accounts.links import REGISTRATION_LINK_TTL, account_link_ttl
from meisai.accounts.models import Account, AccountToken, Consent, Enrollment, Registration
from meisai.accounts.tokens import token_read
from meisai.clock import now


def consent_awaiting_email(*, consent_id: int | None) -> Consent | None:
    """The consent of step 3 that no registration has started from yet (step 4 needs one)."""
    if not consent_id:
        return None
    return Consent.objects.filter(pk=consent_id, registration__isnull=True).first()


def registration_for_email_token(*, token: str) -> Registration | None:
    """The registration a 登録手続きURL opens, or None when it is unknown, used or expired."""
    hashed = token_read(
        token,
        purpose="register-email",
        max_age_seconds=int(REGISTRATION_LINK_TTL.total_seconds()),
    )
    if hashed is None:
        return None
    return Registration.objects.filter(
        email_token_hash=hashed,
        state=Registration.State.EMAIL_SENT,
        email_token_used_at__isnull=True,
        email_token_expires_at__gt=now(),
    ).first()


def registration_for_completion_token(*, token: str) -> Registration | None:
    """The registration a 完了手続きURL completes, or None when it is unknown, used or expired.

    Only a read: the page it opens completes the registration on its button (a POST), because
    mail scanners fetch every link of a message.
    """
    hashed = token_read(
        token,
        purpose="register-complete",
        max_age_seconds=int(REGISTRATION_LINK_TTL.total_seconds()),
    )
    if hashed is None:
        return None
    return Registration.objects.filter(
        completion_token_hash=hashed,
        state=Registration.State.COMPLETION_SENT,
        completion_token_expires_at__gt=now(),
    ).first()


def registration_for_takeover_token(*, token: str, purpose: str) -> Registration | None:
    """The pending re-registration a notice's link decides, or None when the link is forged, or
    the re-registration has taken effect or ended (only a read: its pages post a button)."""
    wait = dt.timedelta(hours=settings.MEISAI_REREGISTRATION_WAIT_HOURS)
    hashed = token_read(token, purpose=purpose, max_age_seconds=int(wait.total_seconds()))
    if hashed is None:
        return None
    return Registration.objects.filter(
        takeover_token_hash=hashed,
        state=Registration.State.PENDING,
        takes_effect_at__gt=now(),
    ).first()


def registration_awaiting_confirmation(*, registration_id: int | None) -> Registration | None:
    """A registration whose identity is proved and that waits for 「確定」 (step 6)."""
    if not registration_id:
        return None
    return (
        Registration.objects.select_related("card")
        .filter(pk=registration_id, state=Registration.State.VERIFIED)
        .first()
    )


def login_id_available(*, login_id: str) -> bool:
    """Unique without regard to case, among every account and enrolment ever (old IDs stay
    taken so they are never handed to someone else), registrations awaiting completion and
    re-registrations waiting to take effect."""
    return not (
        Account.objects.filter(login_id__iexact=login_id).exists()
        or Enrollment.objects.filter(login_id__iexact=login_id).exists()
        or Registration.objects.filter(
            login_id__iexact=login_id,
            state=Registration.State.COMPLETION_SENT,
            completion_token_expires_at__gt=now(),
        ).exists()
        or Registration.objects.filter(
            login_id__iexact=login_id, state=Registration.State.PENDING
        ).exists()
    )


def pending_login_account(*, account_id: int) -> Account | None:
    """The account of a login waiting for its one-time code, while it is still active."""
    return Account.objects.filter(pk=account_id, is_active=True).first()


def account_link_find(*, token: str, purpose: str) -> AccountToken | None:
    """The unused, unexpired link row a password-reset or email-change URL stands for, with its
    (active) account and member; None otherwise. A link ended by a login or a change of the
    account counts as used."""
    hashed = token_read(
        token, purpose=purpose, max_age_seconds=int(account_link_ttl(purpose).total_seconds())
    )
    if hashed is None:
        return None
    return (
        AccountToken.objects.select_related("account", "account__member")
        .filter(
            token_hash=hashed,
            purpose=purpose,
            used_at__isnull=True,
            expires_at__gt=now(),
            account__is_active=True,
        )
        .first()
    )
