"""meisai import members / products: upserts, cards by keyed hash, phones, derived flags."""

from __future__ import annotations

import datetime as dt

import pytest

from meisai import card_numbers
from meisai.members.models import Card, Member, Phone, Product
from tests.imports.conftest import (
    CARD_1,
    CARD_2,
    CARD_3,
    MEMBERS_HEADER,
    PRODUCTS_HEADER,
    member_row,
)

pytestmark = pytest.mark.django_db


def snapshot() -> list[tuple]:
    return [
        *Member.objects.order_by("id").values_list(
            *[f.attname for f in Member._meta.concrete_fields]
        ),
        *Card.objects.order_by("id").values_list(*[f.attname for f in Card._meta.concrete_fields]),
        *Phone.objects.order_by("id").values_list("member_id", "kind", "number"),
    ]


def test_products_are_upserted_and_exclusion_is_derived_again(importer):
    importer.products()
    assert list(
        Product.objects.order_by("code").values_list("code", "name", "program_excluded")
    ) == [
        ("GOLD", "日専連ゴールドカード", False),
        ("IRIS", "IRISカード", True),
        ("STD", "日専連カード", False),
    ]
    importer.members(member_row("M0000001", CARD_1, product="GOLD"))
    assert Member.objects.get().program_excluded is False
    out = importer.run("products", importer.write(PRODUCTS_HEADER, "GOLD,日専連ゴールド,1"))
    assert "1 rows; rows: 0 new, 1 updated, 0 unchanged" in out
    assert Member.objects.get().program_excluded is True


def test_a_member_with_two_cards_and_exact_fields(importer):
    importer.products()
    out = importer.run(
        "members",
        importer.write(
            MEMBERS_HEADER,
            member_row("M0000001", CARD_1, kana="ﾓﾘｵｶ ﾀﾛｳ"),
            member_row("M0000001", CARD_2, product="IRIS", expiry="2027-03", kana="ﾓﾘｵｶ ﾀﾛｳ"),
        ),
    )
    assert "2 rows; members: 1 new, 0 updated, 0 unchanged" in out
    member = Member.objects.get()
    assert (
        member.member_no,
        member.name_kanji,
        member.name_kana,
        member.birth_date,
        member.postal_code,
        member.email,
        member.status,
        member.cancelled_on,
        member.fee_exempt,
        member.paper_required,
        member.program_excluded,
    ) == (
        "M0000001",
        "盛岡 太郎",
        "モリオカ タロウ",
        dt.date(1960, 4, 1),
        "020-0021",
        "taro@example.jp",
        "active",
        None,
        False,
        False,
        False,
    )
    assert list(
        member.cards.order_by("last4").values_list(
            "number_hash", "last4", "expiry", "product__code", "is_active"
        )
    ) == [
        (card_numbers.card_hash(CARD_1), "0001", "2029-12", "STD", True),
        (card_numbers.card_hash(CARD_2), "0002", "2027-03", "IRIS", True),
    ]
    assert sorted(member.phones.values_list("kind", "number")) == [
        ("home", "0196231111"),
        ("mobile", "09012345678"),
    ]


def test_only_iris_cards_make_the_member_program_excluded(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1, product="IRIS"))
    assert Member.objects.get().program_excluded is True


def test_re_import_updates_cancellation_phones_email_and_cards(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1), member_row("M0000001", CARD_2))
    out = importer.run(
        "members",
        importer.write(
            MEMBERS_HEADER,
            member_row(
                "M0000001",
                CARD_1,
                status="cancelled",
                cancelled_on="2025-03-31",
                phone_home="",
                phone_mobile="080-9999-0000",
                email="new@example.jp",
            ),
        ),
    )
    assert "1 rows; members: 0 new, 1 updated, 0 unchanged" in out
    member = Member.objects.get()
    assert (member.status, member.cancelled_on, member.email) == (
        "cancelled",
        dt.date(2025, 3, 31),
        "new@example.jp",
    )
    assert list(member.phones.values_list("kind", "number")) == [("mobile", "08099990000")]
    assert sorted(member.cards.values_list("last4", "is_active")) == [
        ("0001", False),
        ("0002", False),
    ]


def test_a_member_absent_from_a_later_file_is_left_alone(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1), member_row("M0000002", CARD_2))
    before = snapshot()
    importer.run("members", importer.write(MEMBERS_HEADER, member_row("M0000002", CARD_2)))
    assert snapshot() == before


def test_member_errors_are_reported_with_masked_card_numbers(importer):
    importer.products()
    path = importer.write(
        MEMBERS_HEADER,
        member_row("M0000001", CARD_1),
        member_row("M0000001", CARD_2, name="盛岡 次郎"),
        member_row("M0000002", CARD_1),
        member_row("M0000003", "4980-1234-5678", product="XXX"),
        member_row("M0000004", CARD_3, birth="1970-02-29", status="cancelled"),
        member_row(
            "M0000005",
            "4980123412340005",
            status="active",
            cancelled_on="2025-01-01",
            fee_exempt="2",
        ),
        member_row(
            "M0000006", "4980123412340006", expiry="2029-13", email="not-an-email", kana="もりおか"
        ),
    )
    lines = importer.refused("members", path)
    assert lines == [
        f"{path}:3: column name_kanji: value '盛岡 次郎': differs from line 2 of the same member_no ('盛岡 太郎'): member fields must agree on every card row",
        f"{path}:4: column card_no: value '****-****-****-0001': duplicate: the same card is on line 2",
        f"{path}:5: column card_no: value '****-****-****-5678': not a card number (13–19 digits)",
        f"{path}:5: column product_code: value 'XXX': unknown product code (import products first)",
        f"{path}:6: column birth_date: value '1970-02-29': no such date",
        f"{path}:7: column fee_exempt: value '2': must be 0 or 1",
        f"{path}:8: column name_kana: value 'もりおか': not katakana",
        f"{path}:8: column email: value 'not-an-email': not an email address",
        f"{path}:8: column card_expiry: value '2029-13': no such month",
    ]
    text = "\n".join(lines)
    assert CARD_1 not in text and "498012341234" not in text
    assert Member.objects.count() == 0 and Card.objects.count() == 0


def test_cancelled_needs_a_date_and_active_forbids_one(importer):
    importer.products()
    path = importer.write(
        MEMBERS_HEADER,
        member_row("M0000001", CARD_1, status="cancelled"),
        member_row("M0000002", CARD_2, cancelled_on="2025-01-01"),
    )
    assert importer.refused("members", path) == [
        f"{path}:2: column cancelled_on: value '': required when status is cancelled",
        f"{path}:3: column cancelled_on: value '2025-01-01': must be empty when status is active",
    ]


def test_a_card_of_another_member_is_refused(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1))
    before = snapshot()
    path = importer.write(MEMBERS_HEADER, member_row("M0000002", CARD_1))
    assert importer.refused("members", path) == [
        f"{path}:2: column card_no: value '****-****-****-0001': the card belongs to member M0000001"
    ]
    assert snapshot() == before


def test_the_same_member_file_twice_changes_nothing(importer):
    importer.products()
    path = importer.members(member_row("M0000001", CARD_1))
    before = snapshot()
    assert importer.run("members", path).endswith("nothing changed")
    assert snapshot() == before


def test_product_errors(importer):
    path = importer.write(
        PRODUCTS_HEADER,
        "STD,日専連カード,0",
        "STD,日専連カード(重複),0",
        "GOLD,,1",
        "ゴールド!,名前,2",
    )
    assert importer.refused("products", path) == [
        f"{path}:3: column product_code: value 'STD': duplicate: already on line 2",
        f"{path}:4: column name: value '': empty: a value is required",
        f"{path}:5: column product_code: value 'ゴールド!': not a product code (1–20 letters, digits, - or _)",
        f"{path}:5: column program_excluded: value '2': must be 0 or 1",
    ]
    assert Product.objects.count() == 0


def test_a_member_counts_as_updated_when_its_row_a_card_or_a_phone_changed(importer):
    importer.products()
    card = {n: f"498012341234{n:04d}" for n in range(1, 8)}
    importer.members(
        member_row("M0000001", card[1]),
        member_row("M0000002", card[2]),
        member_row("M0000003", card[3]),
        member_row("M0000004", card[4]),
        member_row("M0000005", card[5]),
        member_row("M0000005", card[6]),
    )
    unchanged = Member.objects.get(member_no="M0000001")
    out = importer.run(
        "members",
        importer.write(
            MEMBERS_HEADER,
            member_row("M0000001", card[1]),
            member_row("M0000002", card[2], phone_home=""),
            member_row("M0000003", card[3], expiry="2031-06"),
            member_row("M0000004", card[4], name="盛岡 花子"),
            member_row("M0000005", card[5]),
            member_row("M0000007", card[7]),
        ),
    )
    assert "6 rows; members: 1 new, 4 updated, 1 unchanged" in out
    assert Member.objects.get(member_no="M0000001").updated_at == unchanged.updated_at
    assert list(
        Phone.objects.filter(member__member_no="M0000002").values_list("kind", flat=True)
    ) == ["mobile"]
    assert Card.objects.get(last4="0003").expiry == "2031-06"
    assert Member.objects.get(member_no="M0000004").name_kanji == "盛岡 花子"
    # The card the file no longer lists was replaced or withdrawn: kept, inactive.
    assert sorted(
        Card.objects.filter(member__member_no="M0000005").values_list("last4", "is_active")
    ) == [("0005", True), ("0006", False)]
    assert Member.objects.get(member_no="M0000007").cards.get().last4 == "0007"
