"""The top page's reads (statements/top_page.py): the member with the card rule and the latest
preference in one query, then the latest statement, the points' two reads and the campaigns —
five queries however many statements, preferences and points a member has — and the answers
those compiled reads give are the rules' own."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache

from meisai.clock import JST
from meisai.members import delivery
from meisai.members.models import DeliveryPreference, Member
from meisai.members.standing import members_without_card
from meisai.points.models import PointEntry
from meisai.statements import selectors
from meisai.statements.top_page import top_page_context
from tests.factories import (
    AccountFactory,
    CardFactory,
    DeliveryPreferenceFactory,
    MemberFactory,
    PointBalanceFactory,
    StatementFactory,
)
from tests.statements.test_first_view_queries import _queries

pytestmark = pytest.mark.django_db

APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


@time_machine.travel(APRIL_20, tick=False)
@pytest.mark.parametrize("months", [0, 1, 13])
def test_the_top_page_reads_in_five_queries_however_much_the_member_has(client, months):
    account = AccountFactory()
    member = account.member
    CardFactory(member=member)
    # Web already, as most members on the 13th (a paper member's page also offers the open
    # campaigns: one query more).
    DeliveryPreferenceFactory(member=member, recorded_at=dt.datetime(2024, 11, 1, tzinfo=JST))
    for n in range(months):
        StatementFactory(
            member=member, billing_month=f"{2025 - (n + 8) // 12}-{(3 - n) % 12 + 1:02d}"
        )
        DeliveryPreferenceFactory(member=member, recorded_at=APRIL_20 - dt.timedelta(days=30 * n))
        PointBalanceFactory(member=member, as_of=dt.date(2025, 3, 31) - dt.timedelta(days=30 * n))
        PointEntry.objects.create(
            member=member,
            kind=PointEntry.Kind.CAMPAIGN,
            points=100,
            billing_month="2025-04",
            description="付与",
            recorded_at=APRIL_20 - dt.timedelta(days=30 * n, hours=1),
        )
    client.force_login(account)

    assert _queries(client, "/") == [
        "SELECT members_member",
        "SELECT statements_statement",
        "SELECT points_pointbalance",
        "SELECT points_pointentry",
        "SELECT points_campaign",
    ]


def test_the_card_rule_of_the_top_page_is_the_rule_of_the_member_import():
    holds_a_card = CardFactory().member
    cancelled = MemberFactory(status=Member.Status.CANCELLED, cancelled_on=dt.date(2025, 3, 31))
    every_card_cancelled = CardFactory(is_active=False).member
    one_card_left = CardFactory(is_active=False).member
    CardFactory(member=one_card_left, is_active=True)
    never_sent_a_card = MemberFactory()
    members = [holds_a_card, cancelled, every_card_cancelled, one_card_left, never_sent_a_card]

    told = {member.pk: top_page_context(member_id=member.pk)["without_card"] for member in members}

    assert told == {member.pk: member in members_without_card() for member in members}
    assert [member for member in members if told[member.pk]] == [cancelled, every_card_cancelled]


@time_machine.travel(APRIL_20, tick=False)
def test_the_latest_preference_of_the_top_page_is_delivery_since():
    member = CardFactory().member
    tied = dt.datetime(2025, 4, 9, 23, 59, tzinfo=JST)
    DeliveryPreferenceFactory(
        member=member, method="paper", recorded_at=tied - dt.timedelta(days=40)
    )
    DeliveryPreferenceFactory(member=member, method="web", recorded_at=tied)
    # The same moment: the later row counts (ties by id), as for delivery_since.
    DeliveryPreferenceFactory(member=member, method="paper", recorded_at=tied)
    none_recorded = CardFactory().member

    for someone in (member, none_recorded):
        assert top_page_context(member_id=someone.pk)["delivery_since"] == delivery.delivery_since(
            member=someone
        )
    assert delivery.delivery_since(member=member).method == DeliveryPreference.Method.PAPER
    assert delivery.delivery_since(member=none_recorded).first_month is None


@time_machine.travel(dt.datetime(2026, 4, 20, 12, 0, tzinfo=JST), tick=False)
def test_the_latest_statement_is_the_newest_published_inside_the_window():
    member = CardFactory().member
    StatementFactory(member=member, billing_month="2025-03")  # 14 months back: outside
    assert selectors.latest_published_statement(member=member) is None
    inside = StatementFactory(member=member, billing_month="2025-04")  # the 13th month back
    StatementFactory(member=member, billing_month="2026-05", published_at=None)  # not published
    other = CardFactory().member
    StatementFactory(member=other, billing_month="2026-04")

    assert selectors.latest_published_statement(member=member) == inside
    assert selectors.latest_published_statement(member=member.pk) == inside
    assert list(selectors.published_statements(member=member)) == [inside]
    newest = StatementFactory(member=member, billing_month="2026-04")
    assert selectors.latest_published_statement(member=member) == newest
