"""The database still vouches for the references of usage lines, statements and point entries
after their row-by-row foreign keys became set-based checks (``meisai.statements.triggers``)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction

from meisai.points.models import PointEntry
from meisai.points.services import campaign_load_defaults
from meisai.statements.models import Statement, UsageLine
from tests.factories import CardFactory, MemberFactory, UsageLineFactory

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL statement-level triggers"
)

MISSING = 987_654_321


def refused(sql: str, params: list, *, reference: str, still_used: bool = False) -> None:
    """The database refuses ``sql`` for breaking ``reference`` (``table.column → table``)."""
    with (
        pytest.raises(IntegrityError) as error,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    message = str(error.value).splitlines()[0]  # PostgreSQL adds a CONTEXT line
    if connection.vendor == "sqlite":
        column = reference.split(" → ")[0]
        assert message == f"FOREIGN KEY constraint failed: {column}", message
    elif still_used:
        assert f"violates the reference {reference}: key " in message, message
        assert message.endswith("is still referenced"), message
    else:
        assert f"violates the reference {reference}: key " in message, message
        assert message.endswith("is not present"), message


USAGE_INSERT = (
    "INSERT INTO statements_usageline (member_id, card_id, billing_month, line_no, use_date,"
    " merchant, user_kind, payment_type, installment, use_amount, billed_amount, note)"
    " VALUES (%s, %s, '2025-05', %s, '2025-04-01', '盛岡商店', '本人', '1回', '', 100, 100, '')"
)


@pytest.mark.django_db
def test_a_usage_line_must_name_an_existing_member_and_card():
    member = MemberFactory()
    card = CardFactory(member=member)
    refused(
        USAGE_INSERT,
        [MISSING, None, 1],
        reference="statements_usageline.member_id → members_member",
    )
    refused(
        USAGE_INSERT,
        [member.pk, MISSING, 1],
        reference="statements_usageline.card_id → members_card",
    )
    with connection.cursor() as cursor:
        cursor.execute(USAGE_INSERT, [member.pk, card.pk, 1])
        cursor.execute(USAGE_INSERT, [member.pk, None, 2])
    assert UsageLine.objects.filter(member=member).count() == 2


@pytest.mark.django_db
def test_one_bad_row_refuses_the_whole_multi_row_insert():
    member = MemberFactory()
    row = "(%s, NULL, '2025-05', %s, '2025-04-01', '盛岡商店', '本人', '1回', '', 1, 1, '')"
    refused(
        USAGE_INSERT.split(" VALUES ")[0] + " VALUES " + ", ".join([row, row]),
        [member.pk, 1, MISSING, 2],
        reference="statements_usageline.member_id → members_member",
    )
    assert not UsageLine.objects.exists()


@pytest.mark.django_db
def test_a_usage_line_cannot_be_moved_to_a_missing_member():
    line = UsageLineFactory()
    refused(
        "UPDATE statements_usageline SET member_id = %s WHERE id = %s",
        [MISSING, line.pk],
        reference="statements_usageline.member_id → members_member",
    )
    line.refresh_from_db()
    assert line.member_id != MISSING


@pytest.mark.django_db
def test_statements_and_point_entries_must_name_existing_rows():
    member = MemberFactory()
    refused(
        "INSERT INTO statements_statement (member_id, billing_month, delivery, usage_total,"
        " fee_total, total, line_count, points_granted, debit_date, confirmed_at, pdf_sha256)"
        " VALUES (%s, '2025-04', 'web', 0, 0, 0, 0, 0, '2025-04-28', '2025-04-14', '')",
        [MISSING],
        reference="statements_statement.member_id → members_member",
    )
    refused(
        "INSERT INTO points_pointentry (member_id, kind, points, billing_month, description,"
        " recorded_at) VALUES (%s, 'campaign', 1000, '2025-04', 'x', '2025-04-14')",
        [MISSING],
        reference="points_pointentry.member_id → members_member",
    )
    refused(
        "INSERT INTO points_pointentry (member_id, kind, points, billing_month, campaign_id,"
        " description, recorded_at) VALUES (%s, 'campaign', 1000, '2025-04', %s, 'x', '2025-04-14')",
        [member.pk, MISSING],
        reference="points_pointentry.campaign_id → points_campaign",
    )
    assert not Statement.objects.exists() and not PointEntry.objects.exists()


@postgres_only
@pytest.mark.django_db
def test_a_referenced_member_or_card_cannot_be_deleted_or_renumbered():
    card = CardFactory()
    member = card.member
    UsageLineFactory(member=member, card=card, billing_month="2025-04")
    refused(
        "DELETE FROM members_card WHERE id = %s",
        [card.pk],
        reference="statements_usageline.card_id → members_card",
        still_used=True,
    )
    # A member with only usage lines: a member with cards is refused by the cards' reference
    # first (members.triggers), which says nothing of the usage line's.
    billed = UsageLineFactory(billing_month="2025-04").member
    refused(
        "DELETE FROM members_member WHERE id = %s",
        [billed.pk],
        reference="statements_usageline.member_id → members_member",
        still_used=True,
    )
    refused(
        "DELETE FROM members_member WHERE id = %s",
        [member.pk],
        reference="members_card.member_id → members_member",
        still_used=True,
    )
    with (
        pytest.raises(
            IntegrityError, match=f"^the key of members_member {member.pk} cannot change"
        ),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE members_member SET id = %s WHERE id = %s", [MISSING, member.pk])
    unused = MemberFactory()
    unused_card = CardFactory()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM members_member WHERE id = %s", [unused.pk])
        assert cursor.rowcount == 1
        cursor.execute("DELETE FROM members_card WHERE id = %s", [unused_card.pk])
        assert cursor.rowcount == 1


@postgres_only
@pytest.mark.django_db
def test_a_campaign_with_grants_cannot_be_deleted():
    campaign = campaign_load_defaults(actor="test")
    PointEntry.objects.create(
        member=MemberFactory(),
        kind=PointEntry.Kind.CAMPAIGN,
        points=1000,
        billing_month="2025-04",
        campaign=campaign,
        description=campaign.name,
        recorded_at=dt.datetime(2025, 4, 14, tzinfo=dt.UTC),
    )
    refused(
        "DELETE FROM points_campaign WHERE id = %s",
        [campaign.pk],
        reference="points_pointentry.campaign_id → points_campaign",
        still_used=True,
    )
    assert PointEntry.objects.filter(campaign=campaign).count() == 1
