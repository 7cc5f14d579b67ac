"""Writes to the member side that meisai owns: the delivery preference history.

A member's own change (紙明細停止選択) is confirmed by email, naming the first billing month it
decides; registration sends its own completion email, and the core system's changes are its own
business.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from meisai.audit.services import audit_record
from meisai.billing_calendar import BillingMonth, first_month_affected
from meisai.clock import now
from meisai.members.delivery import web_delivery_refusal
from meisai.members.models import DeliveryPreference, Member
from meisai.notifications.services import email_enqueue
from meisai.statements.formatting import statement_month


class DeliveryChangeRefused(Exception):
    """The member may not switch to web statements; the message says why, in Japanese."""


@transaction.atomic
def delivery_preference_change(
    *,
    member: Member,
    method: str,
    source: str,
    actor: str,
    reason: str = "",
    at: dt.datetime | None = None,
    client_ip: str | None = None,
) -> tuple[DeliveryPreference, BillingMonth]:
    """Record a change of delivery method and return it with the first billing month it decides.

    Switching to web is refused for excepted members; an operator's change needs a reason. Every
    change is audited in the same transaction, whoever makes it (the member, registration, an
    operator).
    """
    if method not in DeliveryPreference.Method.values:
        raise ValueError(f"unknown delivery method {method!r}")
    if method == DeliveryPreference.Method.WEB:
        refusal = web_delivery_refusal(member=member)
        if refusal:
            raise DeliveryChangeRefused(refusal)
    if source == DeliveryPreference.Source.OPERATOR and not reason.strip():
        raise ValueError("an operator's change of delivery needs a reason")
    moment = at or now()
    preference = DeliveryPreference.objects.create(
        member=member, method=method, recorded_at=moment, source=source, actor=actor, reason=reason
    )
    first_month = first_month_affected(moment)
    audit_record(
        actor=actor,
        action="delivery_preference_change",
        member=member,
        detail={
            "method": method,
            "source": source,
            "reason": reason,
            "first_month": str(first_month),
        },
        client_ip=client_ip,
    )
    if source == DeliveryPreference.Source.MEMBER:
        _delivery_change_confirm(preference=preference, first_month=first_month)
    return preference, first_month


def _delivery_change_confirm(*, preference: DeliveryPreference, first_month: BillingMonth) -> None:
    """Email the member that the change is recorded and from which billing month it counts: to
    the web account's address, else the member master's (none: no email)."""
    member = preference.member
    account = member.accounts.filter(is_active=True).exclude(email="").first()
    to = account.email if account is not None else member.email
    if not to:
        return
    email_enqueue(
        key=f"delivery-preference-changed:{preference.pk}",
        template="delivery_preference_changed",
        to=to,
        context={
            "name": member.name_kanji,
            "at": preference.recorded_at,
            "web": preference.method == DeliveryPreference.Method.WEB,
            # The email is rendered now, in the language of the request that queues it.
            "first_month": statement_month(first_month),
        },
    )
