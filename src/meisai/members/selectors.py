"""Reads of the member master shared by pages, the close and exports."""

from __future__ import annotations

import datetime as dt

from meisai.members.models import DeliveryPreference, Member


def delivery_method_at(*, member: Member, moment: dt.datetime) -> str:
    """The delivery method in force just before ``moment`` (paper when nothing was recorded)."""
    latest = (
        DeliveryPreference.objects.filter(member=member, recorded_at__lt=moment)
        .order_by("-recorded_at", "-id")
        .values_list("method", flat=True)
        .first()
    )
    return latest or DeliveryPreference.Method.PAPER


def current_delivery_method(*, member: Member) -> str:
    latest = (
        DeliveryPreference.objects.filter(member=member)
        .order_by("-recorded_at", "-id")
        .values_list("method", flat=True)
        .first()
    )
    return latest or DeliveryPreference.Method.PAPER
