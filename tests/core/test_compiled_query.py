"""A queryset compiled once and run with other values reads what the queryset itself reads,
for each call's values only: one member's read never returns another's rows."""

from __future__ import annotations

import datetime as dt
import threading
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count, Q, Value
from django.db.models.sql.compiler import SQLCompiler

from meisai.clock import JST
from meisai.core.compiled_query import CompiledQuery, CompiledValues
from meisai.members.models import Card
from tests.factories import CardFactory, MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _cards_of(member_id: object):
    return Card.objects.filter(member_id=member_id, is_active=True).select_related("member")


def test_each_call_reads_its_own_values_as_the_queryset_does():
    first, second = MemberFactory(), MemberFactory()
    CardFactory(member=first, number="4980000000000001")
    CardFactory(member=second, number="4980000000000002")
    CardFactory(member=second, number="4980000000000003")
    cards = CompiledQuery(_cards_of, member_id=-1)

    for member in (first, second, first):
        found = cards(member_id=member.pk)
        expected = list(_cards_of(member.pk).order_by())
        assert [card.pk for card in found] == [card.pk for card in expected]
        assert {card.member_id for card in found} == {member.pk}
        # The select_related member comes with it, as from the queryset.
        assert [card.member.member_no for card in found] == [member.member_no] * len(found)
    assert cards(member_id=MemberFactory().pk) == []


def test_it_compiles_once_per_connection():
    member = MemberFactory()
    cards = CompiledQuery(_cards_of, member_id=-1)
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as as_sql:
        cards(member_id=member.pk)
        cards(member_id=member.pk)
        assert as_sql.call_count == 1

        # Another thread has a connection of its own, and its own compiled form.
        def in_another_thread() -> None:
            try:
                cards(member_id=member.pk)
            finally:
                connection.close()

        thread = threading.Thread(target=in_another_thread)
        thread.start()
        thread.join()
        assert as_sql.call_count == 2


def test_a_placeholder_the_query_does_not_use_is_refused():
    with pytest.raises(ValueError, match="member_id"):
        CompiledQuery(lambda member_id: Card.objects.filter(is_active=True), member_id=-1)(
            member_id=1
        )


def test_a_call_must_give_every_value_and_no_other():
    cards = CompiledQuery(_cards_of, member_id=-1)
    with pytest.raises(TypeError):
        cards()
    with pytest.raises(TypeError):
        cards(member_id=1, month="2025-04")


def _cards_since(member_id: object, since: dt.datetime):
    # A constant in values(): no GROUP BY, one row of counts, as aggregate() would give.
    return (
        Card.objects.filter(member_id=member_id, created_at__gte=since)
        .annotate(one=Value(1))
        .values("one")
        .annotate(cards=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
    )


def test_a_values_query_with_a_datetime_gives_the_querysets_dicts():
    member = MemberFactory()
    first = CardFactory(member=member, number="4980000000000001")
    second = CardFactory(member=member, number="4980000000000002", is_active=False)
    Card.objects.filter(pk=first.pk).update(created_at=dt.datetime(2025, 4, 1, 9, 0, tzinfo=dt.UTC))
    Card.objects.filter(pk=second.pk).update(
        created_at=dt.datetime(2025, 4, 2, 9, 0, tzinfo=dt.UTC)
    )
    counts = CompiledValues(
        _cards_since, member_id=-1, since=dt.datetime(1901, 1, 1, tzinfo=dt.UTC)
    )

    # Datetimes as given, whatever the backend sends (SQLite: text in UTC); one in Japan's time.
    for since in (
        dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
        dt.datetime(2025, 4, 1, 9, 0, tzinfo=dt.UTC),
        dt.datetime(2025, 4, 2, 18, 0, tzinfo=JST),
        dt.datetime(2025, 5, 1, tzinfo=dt.UTC),
    ):
        assert counts(member_id=member.pk, since=since) == list(_cards_since(member.pk, since))
    assert counts(member_id=member.pk, since=dt.datetime(2025, 4, 2, 18, 0, tzinfo=JST)) == [
        {"one": 1, "cards": 1, "active": 0}
    ]
