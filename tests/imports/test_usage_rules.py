"""meisai import usage: the rule of each column, one error line each, as docs/imports.md says.

Every case is one row of an otherwise good file; the file is refused with exactly the line
given (``column``, the value as the file gave it, what is wrong) and nothing is kept.
"""

from __future__ import annotations

import datetime as dt

import pytest

from meisai.billing_calendar import BillingMonth
from meisai.statements.models import UsageLine
from tests.imports.conftest import CARD_1, CARD_2, USAGE_HEADER, member_row, usage_row

pytestmark = pytest.mark.django_db

#: The billing month the model gives back for the files' ``2025-01``.
JANUARY = BillingMonth(2025, 1)

LONG_200 = "あ" * 200
LONG_201 = "あ" * 201
#: How an error line shows a value longer than 60 characters.
LONG_SHOWN = "あ" * 57 + "..."

REFUSED = [
    # member_no
    ({"member_no": "M9999999"}, "member_no", "M9999999", "unknown member number"),
    ({"member_no": ""}, "member_no", "", "unknown member number"),
    # billing_month
    (
        {"month": "2025-13"},
        "billing_month",
        "2025-13",
        "not a billing month in the form YYYY-MM",
    ),
    ({"month": "202501"}, "billing_month", "202501", "not a billing month in the form YYYY-MM"),
    ({"month": ""}, "billing_month", "", "not a billing month in the form YYYY-MM"),
    (
        {"month": "２０２５-００"},
        "billing_month",
        "２０２５-００",
        "not a billing month in the form YYYY-MM",
    ),
    # line_no
    ({"line_no": "0"}, "line_no", "0", "not a positive whole number"),
    ({"line_no": "-1"}, "line_no", "-1", "not a positive whole number"),
    ({"line_no": "1.5"}, "line_no", "1.5", "not a positive whole number"),
    ({"line_no": ""}, "line_no", "", "not a positive whole number"),
    ({"line_no": "3000000000"}, "line_no", "3000000000", "too large: at most 2,147,483,647"),
    # use_date
    ({"use_date": ""}, "use_date", "", "empty: a use date is required"),
    ({"use_date": "2024/12/03"}, "use_date", "2024/12/03", "not a date in the form YYYY-MM-DD"),
    ({"use_date": "2025-02-30"}, "use_date", "2025-02-30", "no such date"),
    # merchant
    ({"merchant": ""}, "merchant", "", "empty: a merchant is required"),
    ({"merchant": "   "}, "merchant", "   ", "empty: a merchant is required"),
    ({"merchant": LONG_201}, "merchant", LONG_SHOWN, "longer than 200 characters"),
    # user
    ({"user": "友人"}, "user", "友人", "must be 本人 or 家族"),
    ({"user": ""}, "user", "", "must be 本人 or 家族"),
    # payment_type (the installment is not judged against an unknown payment type)
    (
        {"payment": "3回", "installment": "x"},
        "payment_type",
        "3回",
        "must be 1回, 2回, ボーナス, 分割 or リボ",
    ),
    # installment
    (
        {"payment": "分割", "installment": ""},
        "installment",
        "",
        "required for 分割 (n/m, e.g. 3/10)",
    ),
    ({"payment": "1回", "installment": "1/3"}, "installment", "1/3", "must be empty for 1回"),
    (
        {"payment": "ボーナス", "installment": "1/2"},
        "installment",
        "1/2",
        "must be empty for ボーナス",
    ),
    ({"payment": "分割", "installment": "3-10"}, "installment", "3-10", "not n/m (e.g. 3/10)"),
    (
        {"payment": "分割", "installment": "1000/1000"},
        "installment",
        "1000/1000",
        "not n/m (e.g. 3/10)",
    ),
    ({"payment": "分割", "installment": "0/10"}, "installment", "0/10", "n/m needs 1 ≤ n ≤ m"),
    ({"payment": "分割", "installment": "11/10"}, "installment", "11/10", "n/m needs 1 ≤ n ≤ m"),
    ({"payment": "2回", "installment": "1/3"}, "installment", "1/3", "2回 is n/2"),
    # use_amount, billed_amount
    ({"use_amount": ""}, "use_amount", "", "empty: an amount in whole yen is required"),
    (
        {"use_amount": "3980.5"},
        "use_amount",
        "3980.5",
        "has a decimal point: amounts are whole yen",
    ),
    (
        {"billed_amount": '"3,980.00"'},
        "billed_amount",
        "3,980.00",
        "has a decimal point: amounts are whole yen",
    ),
    ({"billed_amount": '"3,980"'}, "billed_amount", "3,980", "not a whole number of yen"),
    ({"billed_amount": "+5"}, "billed_amount", "+5", "not a whole number of yen"),
    ({"billed_amount": "-"}, "billed_amount", "-", "not a whole number of yen"),
    ({"billed_amount": "abc"}, "billed_amount", "abc", "not a whole number of yen"),
    # note
    ({"note": LONG_201}, "note", LONG_SHOWN, "longer than 200 characters"),
]


@pytest.fixture
def members(importer):
    importer.products()
    importer.members(
        member_row("M0000001", CARD_1),
        member_row("M0000002", CARD_2, name="花巻 花子", kana="ハナマキ ハナコ"),
    )


def _row(fields: dict[str, str]) -> str:
    fields = dict(fields)
    return usage_row(fields.pop("member_no", "M0000001"), **fields)


@pytest.mark.parametrize(("fields", "column", "shown", "message"), REFUSED)
def test_each_column_rule_refuses_the_file_with_its_error_line(
    importer, members, fields, column, shown, message
):
    path = importer.write(USAGE_HEADER, usage_row(line_no="9"), _row(fields))
    assert importer.refused("usage", path) == [
        f"{path}:3: column {column}: value '{shown}': {message}"
    ]
    assert UsageLine.objects.count() == 0


def test_every_problem_of_a_row_is_reported_in_column_order(importer, members):
    path = importer.write(
        USAGE_HEADER,
        usage_row(
            "M9999999",
            month="2025-1",
            line_no="x",
            use_date="",
            merchant="",
            user="他人",
            payment="分割",
            installment="",
            use_amount="1.5",
            billed_amount="",
            note=LONG_201,
        ),
    )
    assert importer.refused("usage", path) == [
        f"{path}:2: column member_no: value 'M9999999': unknown member number",
        f"{path}:2: column billing_month: value '2025-1': not a billing month in the form YYYY-MM",
        f"{path}:2: column line_no: value 'x': not a positive whole number",
        f"{path}:2: column use_date: value '': empty: a use date is required",
        f"{path}:2: column merchant: value '': empty: a merchant is required",
        f"{path}:2: column user: value '他人': must be 本人 or 家族",
        f"{path}:2: column installment: value '': required for 分割 (n/m, e.g. 3/10)",
        f"{path}:2: column use_amount: value '1.5': has a decimal point: amounts are whole yen",
        f"{path}:2: column billed_amount: value '': empty: an amount in whole yen is required",
        f"{path}:2: column note: value '{LONG_SHOWN}': longer than 200 characters",
    ]


def test_a_duplicate_key_is_reported_even_when_its_first_row_is_bad(importer, members):
    path = importer.write(
        USAGE_HEADER, usage_row(use_date="2025-02-30"), usage_row(merchant="重複")
    )
    assert importer.refused("usage", path) == [
        f"{path}:2: column use_date: value '2025-02-30': no such date",
        f"{path}:3: column line_no: value '1': duplicate: member M0000001 2025-01 line 1 is "
        "already on line 2",
    ]


def test_a_duplicate_key_names_the_member_number_in_half_width(importer, members):
    path = importer.write(USAGE_HEADER, usage_row(), usage_row(" Ｍ００００００１ "))
    assert importer.refused("usage", path) == [
        f"{path}:3: column line_no: value '1': duplicate: member M0000001 2025-01 line 1 is "
        "already on line 2",
    ]


@pytest.mark.parametrize(
    ("card", "shown", "message"),
    [
        ("4980999999999999", "****-****-****-9999", "unknown card number"),
        ("49801234", "****-****-****-1234", "unknown card number"),
        (CARD_2, "****-****-****-0002", "the card is not this member's"),
    ],
)
def test_the_card_column_refuses_a_card_that_is_not_the_members(
    importer, members, card, shown, message
):
    path = importer.write(USAGE_HEADER + ",card_no", usage_row() + "," + card)
    lines = importer.refused("usage", path)
    assert lines == [f"{path}:2: column card_no: value '{shown}': {message}"]
    assert card not in "\n".join(lines)


def test_an_unknown_member_with_a_card_is_reported_once_for_the_member(importer, members):
    path = importer.write(USAGE_HEADER + ",card_no", usage_row("M9999999") + "," + CARD_2)
    assert importer.refused("usage", path) == [
        f"{path}:2: column member_no: value 'M9999999': unknown member number"
    ]


def test_values_at_the_edges_of_the_rules_are_kept_as_normalised(importer, members):
    header = USAGE_HEADER + ",card_no"
    path = importer.write(
        header,
        usage_row(merchant=LONG_200, note=LONG_200, payment="リボ", installment="")
        + ",4980-1234-1234-0001",
        usage_row(
            " Ｍ００００００１ ",
            month=" ２０２５-０１ ",
            line_no=" ２ ",
            use_date=" ２０２４-１２-０３ ",
            merchant="  イオン盛岡南  ",
            user=" 家族 ",
            payment=" 分割 ",
            installment=" １/１０ ",
            use_amount=" ３９８０ ",
            billed_amount="－３９８ ",
            note=" 分割 ",
        )
        + ",",
        usage_row(line_no="3", payment="2回", installment="2/2", use_amount="0", billed_amount="0")
        + ",",
        usage_row(line_no="4", payment="ボーナス", use_amount="-1", billed_amount="-1") + ",",
    )
    importer.run("usage", path)
    assert list(
        UsageLine.objects.order_by("line_no").values_list(
            "member__member_no",
            "billing_month",
            "line_no",
            "use_date",
            "merchant",
            "user_kind",
            "payment_type",
            "installment",
            "use_amount",
            "billed_amount",
            "note",
            "card__last4",
        )
    ) == [
        (
            "M0000001",
            JANUARY,
            1,
            dt.date(2024, 12, 3),
            LONG_200,
            "本人",
            "リボ",
            "",
            3980,
            3980,
            LONG_200,
            "0001",
        ),
        (
            "M0000001",
            JANUARY,
            2,
            dt.date(2024, 12, 3),
            "イオン盛岡南",
            "家族",
            "分割",
            "1/10",
            3980,
            -398,
            "分割",
            None,
        ),
        (
            "M0000001",
            JANUARY,
            3,
            dt.date(2024, 12, 3),
            "イオン盛岡南",
            "本人",
            "2回",
            "2/2",
            0,
            0,
            "",
            None,
        ),
        (
            "M0000001",
            JANUARY,
            4,
            dt.date(2024, 12, 3),
            "イオン盛岡南",
            "本人",
            "ボーナス",
            "",
            -1,
            -1,
            "",
            None,
        ),
    ]
