"""Completing a registration from the 完了手続きURL (SPEC 3.4): the account is made, in one
transaction with everything a registration brings, including the replacement of an earlier
account (re-registration, flyer ②). The link opens a page whose button posts here; opening it
alone changes nothing.

The audit row ``account_register`` names the login IDs it replaced and the delivery method the
member ends up with.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.urls import reverse

from meisai.accounts.links import site_url
from meisai.accounts.models import Account, Enrollment, Registration, RememberedBrowser
from meisai.accounts.refusals import Refused
from meisai.accounts.selectors import registration_for_completion_token
from meisai.accounts.sessions import account_sessions_end
from meisai.audit.services import audit_record
from meisai.clock import jst, now
from meisai.members.models import DeliveryPreference, Member
from meisai.members.services import delivery_preference_change, web_delivery_refusal
from meisai.notifications.services import email_enqueue

INVALID_LINK = "この完了手続きURLは無効です(使用済み、または有効期限切れです)。"


@transaction.atomic
def registration_complete(*, token: str) -> Account:
    """Create the account of a confirmed registration.

    * a previous active account of the member is deactivated, its sessions end and its
      address is told; its enrolment is revoked (the ACS export carries the change);
    * delivery becomes web unless the member is excepted;
    * a 本人認証サービス enrolment is recorded with the same login ID and the matched card;
    * the consent of step 3 is tied to the member and the account; the completion email is queued.
    """
    found = registration_for_completion_token(token=token)
    moment = now()
    # Read again under the lock: two tabs posting the same link must not both complete it.
    registration = (
        Registration.objects.select_for_update(of=("self",))
        .select_related("consent", "member", "card")
        .filter(pk=found.pk, state=Registration.State.COMPLETION_SENT)
        .first()
        if found
        else None
    )
    if registration is None or registration.member is None or registration.card is None:
        raise Refused(INVALID_LINK)
    member = Member.objects.select_for_update().get(pk=registration.member.pk)
    card = registration.card
    if not member.is_active or not card.is_active:
        raise Refused("ご登録のカードではお手続きを完了できませんでした。")
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
        # The login ID was taken after step 5 (e.g. by the enrolment import): the whole
        # completion rolls back.
        raise Refused(
            "ご指定のログインIDは既に使用されています。お手数ですが最初からお手続きください。"
        ) from error
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
    audit_record(
        actor=account.login_id,
        action="account_register",
        member=member,
        detail={"replaced": [old.login_id for old in previous], "delivery": delivery},
    )
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
