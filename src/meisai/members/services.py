"""Writes to the member side that meisai owns: the delivery preference history."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from meisai.audit.services import audit_record
from meisai.billing_calendar import BillingMonth, first_month_affected
from meisai.clock import now
from meisai.members.delivery import web_delivery_refusal
from meisai.members.models import DeliveryPreference, Member


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
    return preference, first_month
