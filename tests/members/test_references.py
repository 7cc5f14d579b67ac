"""The database still vouches for the member and product of every card and phone after their
foreign keys became set-based checks (``meisai.members.triggers``): it refuses what the foreign
keys refused."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from meisai.members.models import Card, Member, Phone
from tests.factories import CardFactory, MemberFactory, PhoneFactory, ProductFactory
from tests.statements.test_references import MISSING, refused

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL statement-level triggers"
)

CARD_INSERT = (
    "INSERT INTO members_card (member_id, product_id, number_hash, last4, expiry, is_active,"
    " created_at, updated_at) VALUES (%s, %s, %s, '9012', '2029-12', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)
PHONE_INSERT = "INSERT INTO members_phone (member_id, kind, number) VALUES (%s, 'mobile', %s)"


@pytest.mark.django_db
def test_a_card_of_a_member_that_does_not_exist_is_refused():
    product = ProductFactory()
    with pytest.raises(IntegrityError) as error, transaction.atomic():
        Card.objects.create(
            member_id=MISSING, product=product, number_hash="a" * 64, last4="9012", expiry="2029-12"
        )
    if connection.vendor == "postgresql":
        assert str(error.value).splitlines()[0] == (
            'insert or update on table "members_card" violates the reference'
            f" members_card.member_id → members_member: key {MISSING} is not present"
        )
    assert not Card.objects.exists()


@pytest.mark.django_db
def test_a_card_and_a_phone_must_name_an_existing_member_and_product():
    member, product = MemberFactory(), ProductFactory()
    refused(
        CARD_INSERT,
        [MISSING, product.pk, "b" * 64],
        reference="members_card.member_id → members_member",
    )
    refused(
        CARD_INSERT,
        [member.pk, MISSING, "c" * 64],
        reference="members_card.product_id → members_product",
    )
    refused(
        PHONE_INSERT, [MISSING, "09012345678"], reference="members_phone.member_id → members_member"
    )
    assert not Card.objects.exists() and not Phone.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute(CARD_INSERT, [member.pk, product.pk, "d" * 64])
        cursor.execute(PHONE_INSERT, [member.pk, "09012345678"])
    assert Card.objects.filter(member=member).count() == 1
    assert Phone.objects.filter(member=member).count() == 1


@pytest.mark.django_db
def test_one_card_of_a_missing_member_refuses_the_whole_multi_row_insert():
    member, product = MemberFactory(), ProductFactory()
    row = "(%s, %s, %s, '9012', '2029-12', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    refused(
        CARD_INSERT.split(" VALUES ")[0] + " VALUES " + ", ".join([row, row]),
        [member.pk, product.pk, "e" * 64, MISSING, product.pk, "f" * 64],
        reference="members_card.member_id → members_member",
    )
    assert not Card.objects.exists()


@pytest.mark.django_db
def test_a_card_or_a_phone_cannot_be_moved_to_a_missing_member():
    card, phone = CardFactory(), PhoneFactory()
    refused(
        "UPDATE members_card SET member_id = %s WHERE id = %s",
        [MISSING, card.pk],
        reference="members_card.member_id → members_member",
    )
    refused(
        "UPDATE members_card SET product_id = %s WHERE id = %s",
        [MISSING, card.pk],
        reference="members_card.product_id → members_product",
    )
    refused(
        "UPDATE members_phone SET member_id = %s WHERE id = %s",
        [MISSING, phone.pk],
        reference="members_phone.member_id → members_member",
    )
    card.refresh_from_db()
    phone.refresh_from_db()
    assert (card.member_id, phone.member_id) != (MISSING, MISSING)


@postgres_only
@pytest.mark.django_db
def test_a_member_or_product_with_cards_or_phones_cannot_be_deleted_behind_the_orm():
    card = CardFactory()
    phone = PhoneFactory()
    refused(
        "DELETE FROM members_member WHERE id = %s",
        [card.member_id],
        reference="members_card.member_id → members_member",
        still_used=True,
    )
    refused(
        "DELETE FROM members_member WHERE id = %s",
        [phone.member_id],
        reference="members_phone.member_id → members_member",
        still_used=True,
    )
    refused(
        "DELETE FROM members_product WHERE id = %s",
        [card.product_id],
        reference="members_card.product_id → members_product",
        still_used=True,
    )
    with (
        pytest.raises(
            IntegrityError, match=f"^the key of members_product {card.product_id} cannot change"
        ),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE members_product SET id = %s WHERE id = %s", [MISSING, card.product_id]
        )
    assert Member.objects.filter(pk__in=[card.member_id, phone.member_id]).count() == 2


@pytest.mark.django_db
def test_deleting_a_member_through_the_orm_takes_its_cards_and_phones_along():
    card = CardFactory()
    PhoneFactory(member=card.member)
    card.member.delete()
    assert not Member.objects.exists()
    assert not Card.objects.exists() and not Phone.objects.exists()
