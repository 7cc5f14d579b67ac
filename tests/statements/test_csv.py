"""Usage details as CSV: cp932 or UTF-8 with BOM, RFC 4180, formula neutralisation, mapping."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import unicodedata

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from meisai.clock import JST
from meisai.core.cp932 import cp932_twin
from meisai.statements.csv_export import (
    HEADER,
    neutralise,
    reads_as_value,
    text_cell,
    written_form,
)
from tests.factories import CardFactory, StatementFactory, statement_usage_line

pytestmark = pytest.mark.django_db

APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)


def statement_with(member, month, merchants_and_amounts, *, card=None, fee=0):
    usage = sum(amount for _, amount in merchants_and_amounts)
    statement = StatementFactory(
        member=member,
        billing_month=month,
        usage_total=usage,
        fee_total=fee,
        line_count=len(merchants_and_amounts) + (1 if fee else 0),
    )
    for number, (merchant, amount) in enumerate(merchants_and_amounts, start=1):
        statement_usage_line(
            statement,
            line_no=number,
            card=card,
            merchant=merchant,
            use_amount=amount,
            use_date=dt.date(2025, 3, number),
        )
    # the fee (if any) is fee_total, printed by the selectors as line len(...) + 1
    return statement


def rows(response, encoding):
    data = b"".join(response.streaming_content)
    return list(csv.reader(io.StringIO(data.decode(encoding), newline=""))), data


@time_machine.travel(APRIL_20, tick=False)
def test_csv_is_cp932_by_default_and_parses_back_to_the_lines(member_client, account):
    card = CardFactory(member=account.member, number="4980000000001234")
    statement_with(
        account.member,
        "2025-04",
        [("髙橋商店㈱①", 1200), ('カフェ "Le Ciel", 盛岡', 880), ("返品 盛岡百貨店", -1200)],
        card=card,
        fee=165,
    )

    response = member_client.get("/statements/2025-04.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=Shift_JIS"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"meisai-2025-04.csv\"; filename*=UTF-8''"
        "%E3%81%94%E5%88%A9%E7%94%A8%E6%98%8E%E7%B4%B0_"
        "2025%E5%B9%B44%E6%9C%88%E8%AB%8B%E6%B1%82%E5%88%86.csv"
    )
    parsed, data = rows(response, "cp932")
    assert not data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert parsed == [
        HEADER,
        [
            "2025-03-01",
            "髙橋商店㈱①",
            "1200",
            "1回払い",
            "",
            "本人",
            "****-****-****-1234",
            "1200",
            "2025年4月請求分",
            "",
        ],
        [
            "2025-03-02",
            'カフェ "Le Ciel", 盛岡',
            "880",
            "1回払い",
            "",
            "本人",
            "****-****-****-1234",
            "880",
            "2025年4月請求分",
            "",
        ],
        [
            "2025-03-03",
            "返品 盛岡百貨店",
            "-1200",
            "1回払い",
            "",
            "本人",
            "****-****-****-1234",
            "-1200",
            "2025年4月請求分",
            "",
        ],
        ["", "紙明細発行手数料(税込)", "165", "", "", "", "", "165", "2025年4月請求分", ""],
    ]
    assert b'"\x83J\x83t\x83F ""Le Ciel"", \x90\xb7\x89\xaa"' in data  # RFC 4180 quoting


@time_machine.travel(APRIL_20, tick=False)
def test_utf8_on_request_with_bom(member_client, account):
    statement_with(account.member, "2025-04", [("𠮷野家 ¥セール — café", 500)])

    response = member_client.get("/statements/2025-04.csv?encoding=utf-8")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    parsed, data = rows(response, "utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf")
    assert parsed[1][1] == "𠮷野家 ¥セール — café"


@time_machine.travel(APRIL_20, tick=False)
def test_cp932_maps_what_it_can_and_marks_the_rest_visibly(member_client, account, caplog):
    statement_with(account.member, "2025-04", [("𠮷野家 ¥セール — café 🍣 髙 ㈱ ①", 500)])

    with caplog.at_level(logging.WARNING, logger="meisai.core.cp932"):
        parsed, _ = rows(member_client.get("/statements/2025-04.csv"), "cp932")

    assert parsed[1][1] == "〓野家 ￥セール ― cafe 〓 髙 ㈱ ①"
    assert [r.getMessage() for r in caplog.records] == [
        "cp932: U+20BB7 has no cp932 form; written as 〓",
        "cp932: U+1F363 has no cp932 form; written as 〓",
    ]


@time_machine.travel(APRIL_20, tick=False)
def test_formula_cells_are_neutralised_but_negative_amounts_stay_numbers(member_client, account):
    merchants = [
        '=HYPERLINK("x")',
        "+81 店",
        "-返品",
        "@SUM(A1)",
        "＝全角",
        "＋",
        "－",
        "＠店",
        "\tタブ",
        "\r改行",
    ]
    statement_with(account.member, "2025-04", [(m, -100) for m in merchants])

    parsed, _ = rows(member_client.get("/statements/2025-04.csv?encoding=utf-8"), "utf-8-sig")

    assert [row[1] for row in parsed[1:]] == ["'" + m for m in merchants]
    assert {row[2] for row in parsed[1:]} == {"-100"}


@time_machine.travel(APRIL_20, tick=False)
def test_all_visible_months_in_one_file_oldest_first(member_client, account):
    statement_with(account.member, "2025-04", [("四月の店", 400)])
    statement_with(account.member, "2025-03", [("三月の店", 300)])
    statement_with(account.member, "2024-10", [("サービス開始前", 100)])

    response = member_client.get("/statements/all.csv")

    parsed, _ = rows(response, "cp932")
    assert [(row[8], row[1]) for row in parsed[1:]] == [
        ("2025年3月請求分", "三月の店"),
        ("2025年4月請求分", "四月の店"),
    ]
    assert 'filename="meisai-all.csv"' in response["Content-Disposition"]


@time_machine.travel(APRIL_20, tick=False)
def test_columns_read_as_a_kakeibo_app_wants_and_nothing_looks_like_a_date(member_client, account):
    """Date, merchant, billed amount, payment type, 支払回数, user, card; then use amount,
    billing month, note. 3/10 is written 10回中3回目; text a spreadsheet would turn into a date
    or a number gets the leading quote, other text stays as it is."""
    card = CardFactory(member=account.member, number="4980000000000012")
    statement = StatementFactory(member=account.member, billing_month="2025-04", line_count=4)
    for line_no, fields in enumerate(
        [
            {"merchant": "家電の店", "payment_type": "分割", "installment": "3/10"},
            {"merchant": "1/3", "payment_type": "2回", "installment": "1/2", "note": "12-1"},
            {"merchant": "0012", "user_kind": "家族", "payment_type": "リボ"},
            {"merchant": "M0000001", "payment_type": "ボーナス", "note": "3-4番"},
        ],
        start=1,
    ):
        statement_usage_line(
            statement,
            line_no=line_no,
            card=card,
            use_date=dt.date(2025, 3, line_no),
            use_amount=30000,
            billed_amount=3000,
            **fields,
        )

    parsed, _ = rows(member_client.get("/statements/2025-04.csv"), "cp932")

    assert parsed[0] == [
        "利用日",
        "利用店名",
        "請求金額",
        "支払区分",
        "支払回数",
        "利用者",
        "カード番号",
        "利用金額",
        "請求月",
        "備考",
    ]
    card_cells = ["****-****-****-0012", "30000", "2025年4月請求分"]
    assert parsed[1:] == [
        ["2025-03-01", "家電の店", "3000", "分割払い", "10回中3回目", "本人", *card_cells, ""],
        ["2025-03-02", "'1/3", "3000", "2回払い", "2回中1回目", "本人", *card_cells, "'12-1"],
        ["2025-03-04", "M0000001", "3000", "ボーナス一括払い", "", "本人", *card_cells, "3-4番"],
        ["2025-03-03", "'0012", "3000", "リボ払い", "", "家族", *card_cells, ""],  # 家族 after 本人
    ]


@pytest.mark.parametrize(
    "text",
    ["1/3", "3/10", "12-1", "0012", "１２３", "2025-04", "12:30", "1E5", "12%", "TRUE", "#N/A"],
)
def test_text_a_spreadsheet_reads_as_a_value_is_quoted(text):
    assert text_cell(text, encoding="utf-8") == "'" + text


@pytest.mark.parametrize(
    "text",
    ["M0000001", "3-4番", "****-****-****-0012", "10回中3回目", "2025年4月請求分", "Amazon 3"],
)
def test_text_no_spreadsheet_reads_as_a_value_stays_as_it_is(text):
    assert text_cell(text, encoding="cp932") == text


def _spreadsheet_reads_a_formula(cell: str) -> bool:
    """What the spreadsheets do with a cell's start: look-alikes fold to = + - @ (NFKC), leading
    spaces are skipped, and a tab, CR or LF at the start counts too."""
    if cell[:1] in ("\t", "\r", "\n"):
        return True
    return unicodedata.normalize("NFKC", cell).lstrip()[:1] in ("=", "+", "-", "@")


_ANY_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(
    cells=st.lists(_ANY_TEXT, min_size=1, max_size=6), encoding=st.sampled_from(["cp932", "utf-8"])
)
def test_no_written_cell_is_read_as_a_formula_whatever_the_text(cells, encoding):
    """Arbitrary Unicode cells, written in either encoding and decoded back: none starts a
    formula, and one that could not is written as the encoding holds it, unchanged."""
    from meisai.statements.csv_export import csv_chunks

    row = [neutralise(cell, encoding=encoding) for cell in cells]
    data = b"".join(csv_chunks([row], encoding=encoding))
    decoded = data.decode("cp932" if encoding == "cp932" else "utf-8-sig")

    parsed = list(csv.reader(io.StringIO(decoded, newline="")))
    assert len(parsed) == 1
    assert not any(_spreadsheet_reads_a_formula(cell) for cell in parsed[0])
    for typed, written in zip(cells, parsed[0], strict=True):
        as_held = written_form(typed, encoding=encoding)
        assert written == (as_held if not _spreadsheet_reads_a_formula(as_held) else "'" + as_held)


@settings(max_examples=300, deadline=None)
@given(cell=_ANY_TEXT, encoding=st.sampled_from(["cp932", "utf-8"]))
def test_a_statement_text_cell_is_never_a_formula_nor_a_value(cell, encoding):
    """Whatever the text: the written cell starts no formula and reads as no value, and it is
    the text as the encoding holds it, quoted only when it would otherwise be one of the two."""
    written = text_cell(cell, encoding=encoding)
    as_held = written_form(cell, encoding=encoding)

    assert not _spreadsheet_reads_a_formula(written)
    assert not reads_as_value(written)
    risky = _spreadsheet_reads_a_formula(as_held) or reads_as_value(as_held)
    assert written == ("'" + as_held if risky else as_held)


@given(st.text(min_size=1, max_size=1))
def test_every_character_becomes_something_cp932_holds(char):
    twin = cp932_twin(char)
    assert twin
    twin.encode("cp932")


@given(
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40
    )
)
def test_any_merchant_text_parses_back_neutralised(merchant):
    """Whatever the merchant text, the UTF-8 file parses back to it, quoted if it could run."""
    from meisai.statements.csv_export import csv_chunks, line_row
    from meisai.statements.models import Statement, UsageLine

    statement = Statement(billing_month="2025-04")
    line = UsageLine(
        billing_month=statement.billing_month,
        line_no=1,
        merchant=merchant,
        user_kind="本人",
        payment_type="1回",
        use_date=dt.date(2025, 3, 1),
        use_amount=-5,
        billed_amount=-5,
    )
    data = b"".join(
        csv_chunks([HEADER, line_row(statement, line, encoding="utf-8")], encoding="utf-8")
    )

    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(parsed) == 2
    assert parsed[1][1] == (
        "'" + merchant
        if _spreadsheet_reads_a_formula(merchant) or reads_as_value(merchant)
        else merchant
    )
    assert parsed[1][2] == "-5"


@time_machine.travel(APRIL_20, tick=False)
def test_characters_that_become_formula_starts_in_cp932_are_neutralised(member_client, account):
    # ﹦ (U+FE66), ⁼ and ﹫ pass a check of the text as typed, but cp932 has no room for them and
    # writes their NFKC forms = and @; − (U+2212) is written as －; a line feed opens a new line.
    merchants = ["﹦1+1", "−2+3", "⁼SUM(A1)", "﹫店", "\n改行"]
    statement_with(account.member, "2025-04", [(m, 100) for m in merchants])

    parsed, _ = rows(member_client.get("/statements/2025-04.csv"), "cp932")

    assert [row[1] for row in parsed[1:]] == ["'=1+1", "'－2+3", "'=SUM(A1)", "'@店", "'\n改行"]
