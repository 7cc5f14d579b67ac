"""The delivery rule's two twins agree (SPEC 3.2): the close's SQL and the pages' Python."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection

from meisai import billing_calendar as cal
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.members import delivery
from meisai.members.models import Member
from tests.factories import DeliveryPreferenceFactory, MemberFactory

pytestmark = pytest.mark.django_db

APRIL = BillingMonth(2025, 4)
CUTOFF = cal.registration_cutoff(APRIL)  # 2025-04-10 00:00 JST
#: Moments around the cutoff: before, its last second, the cutoff itself, after.
MOMENTS = [
    dt.datetime(2025, 3, 1, 12, 0, tzinfo=JST),
    CUTOFF - dt.timedelta(seconds=1),
    CUTOFF,
    CUTOFF + dt.timedelta(days=3),
]


def _sql_deliveries(month: BillingMonth) -> dict[int, str]:
    in_force = delivery.preference_in_force_sql(cutoff_param="%s")
    decided = delivery.month_delivery_sql(member_alias="m", preference_alias="p")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.id, {decided} FROM {Member._meta.db_table} m"  # noqa: S608
            f" LEFT JOIN ({in_force}) p ON p.member_id = m.id",
            [connection.ops.adapt_datetimefield_value(cal.registration_cutoff(month))],
        )
        return dict(cursor.fetchall())


def test_sql_and_python_decide_every_member_alike():
    members = []
    # Every history of up to two changes at the moments above, with each exempting flag.
    histories = [()] + [
        tuple(zip(moments, methods, strict=True))
        for size in (1, 2)
        for moments in itertools.combinations(MOMENTS, size)
        for methods in itertools.product(["web", "paper"], repeat=size)
    ]
    for history, flags in itertools.product(
        histories, [{}, {"program_excluded": True}, {"paper_required": True}]
    ):
        member = MemberFactory(**flags)
        for moment, method in history:
            DeliveryPreferenceFactory(member=member, method=method, recorded_at=moment)
        members.append(member)

    from_sql = _sql_deliveries(APRIL)

    from_python = {m.pk: delivery.month_delivery(member=m, month=APRIL) for m in members}
    assert from_sql == from_python
    # The edges decide: web from the last second before the cutoff counts, at the cutoff not.
    assert sorted(set(from_python.values())) == ["paper", "web"]


def test_a_change_in_the_last_second_before_the_cutoff_decides_the_month():
    member = MemberFactory()
    DeliveryPreferenceFactory(
        member=member, method="web", recorded_at=CUTOFF - dt.timedelta(seconds=1)
    )
    late = MemberFactory()
    DeliveryPreferenceFactory(member=late, method="web", recorded_at=CUTOFF)

    assert delivery.month_delivery(member=member, month=APRIL) == "web"
    assert delivery.month_delivery(member=late, month=APRIL) == "paper"
    assert delivery.month_delivery(member=late, month=APRIL.next()) == "web"
    assert _sql_deliveries(APRIL) == {member.pk: "web", late.pk: "paper"}
