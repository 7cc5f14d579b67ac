"""Completing a registration from the 完了手続きURL (SPEC 3.4). The link opens a page whose button
posts here; opening it alone changes nothing.

A member with no web account and no enrolment gets their account at once
(``account_creation``). A member who has one is re-registering (flyer ②, a forgotten ID or
password): the card's printed data and a birth date are not enough to take an account over, so
the registration waits, and the owner's address is told (``reregistration``).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext, gettext_lazy

from meisai.accounts.account_creation import account_from_registration
from meisai.accounts.models import Account, Enrollment, Registration
from meisai.accounts.refusals import Refused
from meisai.accounts.reregistration import reregistration_hold
from meisai.accounts.selectors import registration_for_completion_token
from meisai.clock import now
from meisai.members.models import Member

INVALID_LINK = gettext_lazy("この完了手続きURLは無効です(使用済み、または有効期限切れです)。")


@transaction.atomic
def registration_complete(*, token: str) -> Registration:
    """Complete the confirmed registration of ``token``: ``COMPLETED`` with its account, or
    ``PENDING`` with the moment it takes effect when the member already has an account or an
    enrolment."""
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
    if not member.is_active or not registration.card.is_active:
        raise Refused(gettext("ご登録のカードではお手続きを完了できませんでした。"))
    registration.member = member
    if _has_account_or_enrolment(member):
        reregistration_hold(registration=registration, moment=moment)
    else:
        account_from_registration(registration=registration, moment=moment)
    return registration


def _has_account_or_enrolment(member: Member) -> bool:
    return (
        Account.objects.filter(member=member, is_active=True).exists()
        or Enrollment.objects.filter(member=member, status=Enrollment.Status.ACTIVE).exists()
    )
