"""meisai import usage: formats, every error line, atomicity, idempotency, confirmed months."""

from __future__ import annotations

import datetime as dt

import pytest

from meisai.billing_calendar import BillingMonth
from meisai.imports.formats.usage.table import COLUMNS
from meisai.imports.models import ImportBatch
from meisai.statements.models import MonthClose, UsageLine
from tests.factories import StatementFactory
from tests.imports.conftest import (
    CARD_1,
    CARD_2,
    MEMBERS_HEADER,
    USAGE_HEADER,
    member_row,
    usage_row,
)

pytestmark = pytest.mark.django_db

#: The billing month the model gives back for the files' ``2025-01``.
JANUARY = BillingMonth(2025, 1)


@pytest.fixture
def members(importer):
    importer.products()
    importer.members(
        member_row("M0000001", CARD_1),
        member_row("M0000002", CARD_2, name="花巻 花子", kana="ハナマキ ハナコ"),
    )


def test_usage_lines_are_imported_with_exact_values(importer, members):
    path = importer.write(
        USAGE_HEADER,
        usage_row(),
        usage_row(
            line_no="2",
            user="家族",
            payment="分割",
            installment="3/10",
            use_amount="120000",
            billed_amount="12000",
        ),
        usage_row(
            line_no="3", payment="リボ", installment="", use_amount="50000", billed_amount="10000"
        ),
        usage_row(
            "M0000002",
            line_no="1",
            merchant="返品 ケーズデンキ",
            use_amount="-2980",
            billed_amount="-2980",
            note="返品",
        ),
    )
    out = importer.run("usage", path)
    assert "4 rows; rows: 4 new, 0 updated, 0 unchanged" in out
    lines = list(
        UsageLine.objects.order_by("member__member_no", "line_no").values_list(
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
            "card_id",
        )
    )
    assert lines == [
        (
            "M0000001",
            JANUARY,
            1,
            dt.date(2024, 12, 3),
            "イオン盛岡南",
            "本人",
            "1回",
            "",
            3980,
            3980,
            "",
            None,
        ),
        (
            "M0000001",
            JANUARY,
            2,
            dt.date(2024, 12, 3),
            "イオン盛岡南",
            "家族",
            "分割",
            "3/10",
            120000,
            12000,
            "",
            None,
        ),
        (
            "M0000001",
            JANUARY,
            3,
            dt.date(2024, 12, 3),
            "イオン盛岡南",
            "本人",
            "リボ",
            "",
            50000,
            10000,
            "",
            None,
        ),
        (
            "M0000002",
            JANUARY,
            1,
            dt.date(2024, 12, 3),
            "返品 ケーズデンキ",
            "本人",
            "1回",
            "",
            -2980,
            -2980,
            "返品",
            None,
        ),
    ]
    batch = ImportBatch.objects.get(kind="usage")
    assert (batch.kind, batch.status, batch.rows, batch.inserted, batch.actor) == (
        "usage",
        "done",
        4,
        4,
        "test",
    )
    assert UsageLine.objects.filter(batch=batch).count() == 4


def test_every_bad_row_is_reported_and_nothing_is_kept(importer, members):
    path = importer.write(
        USAGE_HEADER,
        usage_row(),
        usage_row(line_no="2", use_date="2025-02-30"),
        usage_row(line_no="3", use_amount="3980.5"),
        usage_row("M9999999", line_no="4"),
        usage_row(line_no="1", merchant="重複"),
        usage_row(line_no="5", payment="分割"),
        usage_row(line_no="6", user="友人"),
        usage_row(line_no="7", month="2025-13"),
        usage_row(line_no="8", payment="1回", installment="1/3"),
        usage_row(line_no="9", billed_amount="abc"),
        usage_row(line_no="0"),
    )
    lines = importer.refused("usage", path)
    name = str(path)
    assert lines == [
        f"{name}:3: column use_date: value '2025-02-30': no such date",
        f"{name}:4: column use_amount: value '3980.5': has a decimal point: amounts are whole yen",
        f"{name}:5: column member_no: value 'M9999999': unknown member number",
        f"{name}:6: column line_no: value '1': duplicate: member M0000001 2025-01 line 1 is already on line 2",
        f"{name}:7: column installment: value '': required for 分割 (n/m, e.g. 3/10)",
        f"{name}:8: column user: value '友人': must be 本人 or 家族",
        f"{name}:9: column billing_month: value '2025-13': not a billing month in the form YYYY-MM",
        f"{name}:10: column installment: value '1/3': must be empty for 1回",
        f"{name}:11: column billed_amount: value 'abc': not a whole number of yen",
        f"{name}:12: column line_no: value '0': not a positive whole number",
    ]
    assert UsageLine.objects.count() == 0
    batch = ImportBatch.objects.get(kind="usage")
    assert (batch.status, batch.error_count, batch.inserted) == ("failed", 10, 0)
    assert batch.errors.splitlines()[0] == lines[0]


def test_the_same_file_twice_changes_nothing_and_says_so(importer, members):
    path = importer.write(USAGE_HEADER, usage_row(), usage_row(line_no="2"))
    importer.run("usage", path)
    first = list(UsageLine.objects.values_list("id", "billed_amount"))
    out = importer.run("usage", path)
    assert out.startswith(f"{path}: already imported (batch ")
    assert out.endswith("nothing changed")
    assert list(UsageLine.objects.values_list("id", "billed_amount")) == first
    assert list(
        ImportBatch.objects.filter(kind="usage").order_by("id").values_list("status", flat=True)
    ) == [
        "done",
        "unchanged",
    ]


def test_identical_rows_in_another_file_are_a_no_op(importer, members):
    importer.run("usage", importer.write(USAGE_HEADER, usage_row()))
    # A line added to the month that file filled needs --append (SPEC 4.3; test_append.py).
    second = importer.write(USAGE_HEADER, usage_row(), usage_row(line_no="2"))
    out = importer.run("usage", second, "--append")
    assert "2 rows; rows: 1 new, 0 updated, 1 unchanged" in out
    assert UsageLine.objects.count() == 2


def test_same_key_with_other_content_is_refused(importer, members):
    importer.run("usage", importer.write(USAGE_HEADER, usage_row()))
    path = importer.write(USAGE_HEADER, usage_row(line_no="2"), usage_row(billed_amount="3000"))
    assert importer.refused("usage", path) == [
        f"{path}:3: column billed_amount: value '3000': line 1 of 2025-01 was imported before with "
        "'3980': a billed line is never rewritten (send a correction as a line of a later month)"
    ]
    assert list(UsageLine.objects.values_list("line_no", "billed_amount")) == [(1, 3980)]


@pytest.mark.parametrize(
    ("resent", "column", "shown", "was"),
    [
        ({"use_date": "2024-12-04"}, "use_date", "2024-12-04", "2024-12-03"),
        ({"merchant": "ケーズデンキ"}, "merchant", "ケーズデンキ", "イオン盛岡南"),
        (
            {"payment": "分割", "installment": "1/3"},
            "payment_type",
            "分割",
            "1回",
        ),
    ],
)
def test_the_first_column_that_differs_from_the_stored_line_is_named(
    importer, members, resent, column, shown, was
):
    importer.run("usage", importer.write(USAGE_HEADER, usage_row()))
    path = importer.write(USAGE_HEADER, usage_row(**resent))
    assert importer.refused("usage", path) == [
        f"{path}:2: column {column}: value '{shown}': line 1 of 2025-01 was imported before with "
        f"'{was}': a billed line is never rewritten (send a correction as a line of a later month)"
    ]


def test_a_line_re_sent_with_a_card_is_refused_with_the_card_masked(importer, members):
    importer.run("usage", importer.write(USAGE_HEADER, usage_row()))
    path = importer.write(USAGE_HEADER + ",card_no", usage_row() + "," + CARD_1)
    lines = importer.refused("usage", path)
    assert lines == [
        f"{path}:2: column card_no: value '****-****-****-0001': line 1 of 2025-01 was imported "
        "before with 'none': a billed line is never rewritten (send a correction as a line of a "
        "later month)"
    ]
    assert CARD_1 not in "\n".join(lines)


def test_a_confirmed_month_is_refused(importer, members):
    MonthClose.objects.create(
        billing_month="2025-01",
        status=MonthClose.Status.CONFIRMED,
        started_at=dt.datetime(2025, 1, 10, tzinfo=dt.UTC),
    )
    path = importer.write(
        USAGE_HEADER, usage_row(), usage_row(month="2025-02", use_date="2025-01-05")
    )
    assert importer.refused("usage", path) == [
        f"{path}:2: column billing_month: value '2025-01': the billing month is already confirmed "
        "(締め済み): corrections go into a later month"
    ]
    assert UsageLine.objects.count() == 0


def test_a_member_with_a_statement_for_the_month_is_refused(importer, members):
    from meisai.members.models import Member

    StatementFactory(member=Member.objects.get(member_no="M0000002"), billing_month="2025-01")
    path = importer.write(USAGE_HEADER, usage_row(), usage_row("M0000002"))
    assert importer.refused("usage", path) == [
        f"{path}:3: column billing_month: value '2025-01': member M0000002 already has a "
        "confirmed statement for this month"
    ]
    assert UsageLine.objects.count() == 0


def test_full_width_digits_are_normalised(importer, members):
    path = importer.write(
        USAGE_HEADER,
        usage_row(
            month="２０２５-０１",
            line_no="１",
            use_date="２０２４-１２-０３",
            use_amount="３９８０",
            billed_amount="－３９８０",
        ),
    )
    importer.run("usage", path)
    line = UsageLine.objects.get()
    assert (
        line.billing_month,
        line.line_no,
        line.use_date,
        line.use_amount,
        line.billed_amount,
    ) == (JANUARY, 1, dt.date(2024, 12, 3), 3980, -3980)


def test_card_column_ties_the_line_to_the_members_card(importer, members):
    header = USAGE_HEADER + ",card_no"
    ok = importer.write(header, usage_row() + "," + CARD_1)
    importer.run("usage", ok)
    line = UsageLine.objects.get()
    assert line.card is not None and line.card.last4 == "0001"

    wrong = importer.write(header, usage_row(line_no="2") + "," + CARD_2)
    lines = importer.refused("usage", wrong)
    assert lines == [
        f"{wrong}:2: column card_no: value '****-****-****-0002': the card is not this member's"
    ]
    assert CARD_2 not in "\n".join(lines)
    assert UsageLine.objects.count() == 1


def test_dry_run_checks_and_keeps_nothing(importer, members):
    path = importer.write(USAGE_HEADER, usage_row())
    out = importer.run("usage", path, "--dry-run")
    assert "checked (dry run, nothing kept): 1 rows" in out
    assert UsageLine.objects.count() == 0
    assert ImportBatch.objects.get(kind="usage").status == "dry_run"
    importer.run("usage", path)
    assert UsageLine.objects.count() == 1


def test_members_file_given_as_usage_has_unknown_columns(importer, members):
    path = importer.write(MEMBERS_HEADER, member_row())
    lines = importer.refused("usage", path)
    assert lines[0] == (
        f"{path}:1: column card_expiry: value 'card_expiry': unknown column (expected: member_no, "
        "billing_month, line_no, use_date, merchant, user, payment_type, installment, "
        "use_amount, billed_amount, note)"
    )
    assert f"{path}:1: column billing_month: value '': missing column in the header" in lines


def test_a_month_with_stored_lines_later_in_the_file_switches_to_the_checked_path(
    importer, members, monkeypatch
):
    """Rows stream straight into the usage table while their months have nothing stored; the
    first chunk of a month that has stored lines goes through the staging checks instead."""
    monkeypatch.setattr("meisai.imports.formats.usage.rows.CHUNK_ROWS", 2)
    importer.run("usage", importer.write(USAGE_HEADER, usage_row(month="2025-02")))
    new_month = [usage_row(month="2025-03", line_no=str(n)) for n in (1, 2, 3)]
    path = importer.write(
        USAGE_HEADER,
        *new_month,
        usage_row(month="2025-02"),
        usage_row(month="2025-02", line_no="2"),
    )
    out = importer.run("usage", path, "--append")
    assert "5 rows; rows: 4 new, 0 updated, 1 unchanged" in out
    assert UsageLine.objects.filter(billing_month="2025-03").count() == 3
    assert UsageLine.objects.filter(billing_month="2025-02").count() == 2

    conflicting = importer.write(
        USAGE_HEADER,
        *[usage_row(month="2025-04", line_no=str(n)) for n in (1, 2, 3)],
        usage_row(month="2025-02", billed_amount="1"),
    )
    assert importer.refused("usage", conflicting) == [
        f"{conflicting}:5: column billed_amount: value '1': line 1 of 2025-02 was imported before"
        " with '3980': a billed line is never rewritten (send a correction as a line of a later"
        " month)"
    ]
    assert not UsageLine.objects.filter(billing_month="2025-04").exists()


def test_the_importer_writes_every_column_of_the_usage_table_but_its_id():
    """Its columns come from the model: a column added to UsageLine fails here until the
    importer fills it too."""
    table = [field.column for field in UsageLine._meta.concrete_fields if not field.primary_key]
    assert sorted(COLUMNS) == sorted(table)
