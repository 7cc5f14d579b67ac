"""Lifting a lock on a member's request (SPEC 3.4, 3.5): a staff action with a reason, audited.

* a **login lock** (10 failed logins in a row lock the login ID for 30 minutes, django-axes)
  ends when its failures are cleared;
* a **registration lock** (5 failed identity checks for one card in 24 hours lock registering
  with that card for 24 hours) ends when the failures of the member's cards are cleared.

Either way the member can try again at once, and the audit row says who lifted it and why.
"""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.db import transaction

from meisai.accounts.login_ids import login_id_key
from meisai.accounts.models import Account, RegistrationFailure
from meisai.audit.services import audit_record
from meisai.members.models import Member


class UnlockRefused(ValueError):
    """The lock cannot be lifted as asked; the message says why."""


def _reason_required(reason: str) -> str:
    if not reason.strip():
        raise UnlockRefused("a lock is lifted only with a reason (e.g. the member's call)")
    return reason.strip()


@transaction.atomic
def account_login_unlock(
    *, login_id: str, actor: str, reason: str, client_ip: str | None = None
) -> int:
    """Clear the failed logins of ``login_id``; returns how many failure records went."""
    reason = _reason_required(reason)
    account = Account.objects.select_for_update().filter(login_id__iexact=login_id).first()
    if account is None:
        raise UnlockRefused(f"no web account has the login ID {login_id!r}")
    cleared = axes_reset(username=login_id_key(account.login_id))
    account.lockout_notified_at = None
    account.save(update_fields=["lockout_notified_at"])
    audit_record(
        actor=actor,
        action="account_login_unlock",
        member=account.member,
        detail={"login_id": account.login_id, "reason": reason, "cleared": cleared},
        client_ip=client_ip,
    )
    return cleared


@transaction.atomic
def registration_unlock(
    *, member: Member, actor: str, reason: str, client_ip: str | None = None
) -> int:
    """Clear the failed identity checks of ``member``'s cards; returns how many went."""
    reason = _reason_required(reason)
    hashes = list(member.cards.values_list("number_hash", flat=True))
    cleared, _ = RegistrationFailure.objects.filter(card_hash__in=hashes).delete()
    audit_record(
        actor=actor,
        action="registration_unlock",
        member=member,
        detail={"reason": reason, "cleared": cleared},
        client_ip=client_ip,
    )
    return cleared
