"""The account a registration makes (SPEC 3.4), with everything it brings: the 本人認証サービス
enrolment under the same login ID, web delivery unless the member is excepted, the consent of
step 3 tied to the account, the audit row and the completion email; and, for a re-registration,
the end of the member's earlier account.

It runs inside the transaction of whoever decided that the account is made now: a first
registration's completion (``registration_completion``), or a re-registration taking effect
(``reregistration``: confirmed by the owner's address or after the wait). The audit row
``account_register`` names the login IDs it replaced, the delivery the member ends up with and,
for a re-registration, how it took effect.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy

from meisai.accounts.links import site_url
from meisai.accounts.models import Account, Enrollment, Registration, RememberedBrowser
from meisai.accounts.refusals import Refused
from meisai.accounts.sessions import account_sessions_end
from meisai.audit.security_events import security_event
from meisai.audit.services import audit_record
from meisai.clock import jst
from meisai.members.models import DeliveryPreference
from meisai.members.services import delivery_preference_change, web_delivery_refusal
from meisai.notifications.services import email_enqueue

LOGIN_ID_TAKEN = gettext_lazy(
    "ご指定のログインIDは既に使用されています。お手数ですが最初からお手続きください。"
)


def account_from_registration(
    *, registration: Registration, moment: dt.datetime, took_effect: str | None = None
) -> Account:
    """Make the account of ``registration`` (locked by the caller, with its member locked too).

    A previous active account of the member is deactivated, its sessions end and its address is
    told; active enrolments are revoked (the ACS export carries the change from ``moment``).
    ``took_effect`` says how a re-registration took effect (``"owner"`` or ``"wait"``).
    Raises :class:`Refused` when the login ID was taken meanwhile; the caller's transaction then
    rolls back whatever this had done.
    """
    member, card = registration.member, registration.card
    assert member is not None and card is not None
    previous = list(Account.objects.filter(member=member, is_active=True))
    for old in previous:
        _account_replace(old, moment=moment)
    Enrollment.objects.filter(member=member, status=Enrollment.Status.ACTIVE).update(
        status=Enrollment.Status.REVOKED, updated_at=moment
    )
    try:
        with transaction.atomic():
            account = Account.objects.create(
                login_id=registration.login_id,
                password=registration.password_hash,
                member=member,
                email=registration.email,
                personal_message=registration.personal_message,
                source=Account.Source.REGISTRATION,
            )
            Enrollment.objects.create(
                member=member,
                account=account,
                card=card,
                login_id=registration.login_id,
                source=Enrollment.Source.REGISTRATION,
                status=Enrollment.Status.ACTIVE,
                enrolled_at=moment,
                updated_at=moment,
            )
    except IntegrityError as error:
        # The login ID was taken after step 5 (e.g. by the enrolment import).
        raise Refused(LOGIN_ID_TAKEN) from error
    delivery = "paper"
    if web_delivery_refusal(member=member) is None:
        delivery_preference_change(
            member=member,
            method=DeliveryPreference.Method.WEB,
            source=DeliveryPreference.Source.REGISTRATION,
            actor=account.login_id,
            at=moment,
        )
        delivery = "web"
    consent = registration.consent
    consent.member = member
    consent.account = account
    consent.save(update_fields=["member", "account"])
    registration.state = Registration.State.COMPLETED
    registration.completed_at = moment
    registration.account = account
    registration.save(update_fields=["state", "completed_at", "account"])
    detail: dict[str, Any] = {
        "replaced": [old.login_id for old in previous],
        "delivery": delivery,
    }
    if took_effect is not None:
        detail["took_effect"] = took_effect
    audit_record(actor=account.login_id, action="account_register", member=member, detail=detail)
    security_event("account_registered", member=member, login_id=account.login_id, **detail)
    email_enqueue(
        key=f"registration-completed:{registration.pk}",
        template="registration_completed",
        to=account.email,
        context={
            "login_id": account.login_id,
            "web_delivery": delivery == "web",
            "login_url": site_url(reverse("accounts:login")),
        },
    )
    return account


def _account_replace(old: Account, *, moment: dt.datetime) -> None:
    """Re-registration: the old login ID stops working, its sessions end, its address is told."""
    old.is_active = False
    old.deactivated_at = moment
    old.save(update_fields=["is_active", "deactivated_at"])
    account_sessions_end(account=old)
    RememberedBrowser.objects.filter(account=old).delete()
    if old.email:
        email_enqueue(
            key=f"account-replaced:{old.pk}",
            template="account_replaced",
            to=old.email,
            context={"login_id": old.login_id, "at": jst(moment)},
        )
