"""The campaign rule's two twins agree (SPEC 3.7): the close's SQL and the Python answer."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection

from meisai.clock import JST
from meisai.points import eligibility
from meisai.points.services import campaign_load_defaults
from tests.factories import (
    CardFactory,
    DeliveryPreferenceFactory,
    MemberFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db

#: Around the flyer's window (2024-11-13 00:00 … 2025-02-28 23:59:59 JST, inclusive).
MOMENTS = [
    dt.datetime(2024, 11, 12, 23, 59, 59, tzinfo=JST),
    dt.datetime(2024, 11, 13, 0, 0, tzinfo=JST),
    dt.datetime(2025, 2, 28, 23, 59, 59, 400000, tzinfo=JST),
    dt.datetime(2025, 3, 1, 0, 0, tzinfo=JST),
]


def test_sql_and_python_choose_the_same_members():
    iris = ProductFactory(code="IRIS", name="IRISカード", program_excluded=True)
    standard = ProductFactory(code="STD")
    campaign = campaign_load_defaults(actor="test")
    grant_day = eligibility.grant_day(campaign)  # 2025-04-14
    members = []
    cases = itertools.product(
        MOMENTS,
        ["registration", "member", "operator"],
        ["web", "paper"],
        [
            {},
            {"status": "cancelled", "cancelled_on": grant_day},
            {"status": "cancelled", "cancelled_on": grant_day + dt.timedelta(days=1)},
            {"program_excluded": True},
        ],
        [[standard], [iris], [iris, standard]],
    )
    for moment, source, method, member_fields, products in cases:
        member = MemberFactory(**member_fields)
        for product in products:
            CardFactory(member=member, product=product)
        DeliveryPreferenceFactory(
            member=member,
            method=method,
            source=source,
            recorded_at=moment,
            reason="窓口" if source == "operator" else "",
        )
        members.append(member)

    sql, params = eligibility.qualifying_members_sql(campaign=campaign)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        from_sql = {row[0] for row in cursor.fetchall()}

    from_python = {
        m.pk for m in members if eligibility.campaign_qualifies(member=m, campaign=campaign)
    }
    assert from_sql == from_python
    # Both the window's edges and each exclusion were exercised.
    assert 0 < len(from_python) < len(members)
