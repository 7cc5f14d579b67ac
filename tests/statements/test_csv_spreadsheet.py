"""The statement CSV opened in a real spreadsheet: LibreOffice Calc, headless.

Each download (cp932 and UTF-8, through the member's view) is imported by Calc with date
recognition on — "detect special numbers", what Excel does by default — and formulas evaluated,
converted to flat ODF (.fods), and read back cell by cell: only the use date is a date, only the
amounts are numbers, every other cell is the text meisai wrote, and nothing is a formula.

Skipped only where ``soffice`` is missing; ``scripts/setup --browser`` installs Debian's
``libreoffice-calc-nogui`` (CI runs it).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import shutil
import subprocess
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import time_machine

from meisai.clock import JST
from meisai.statements.csv_export import HEADER
from tests.factories import CardFactory, StatementFactory, statement_usage_line

SOFFICE = shutil.which("soffice")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        SOFFICE is None,
        reason="LibreOffice is not installed (no soffice on PATH); "
        "scripts/setup --browser installs libreoffice-calc-nogui",
    ),
]

APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)

#: Calc's CSV import options, token by token (LibreOffice help, "CSV Filter Options"):
#: 1 separator ``,`` (44) · 2 text delimiter ``"`` (34) · 3 character set (rtl_TextEncoding:
#: 60 MS_932 for cp932, 76 UTF-8) · 4 first line 1 · 5 no column formats (all "Standard") ·
#: 6 language 1041 ja-JP · 7 quoted field as text: false (Excel ignores the quotes) ·
#: 8 detect special numbers: true (dates, times, percentages — Excel's default) · 9 numbers in
#: scientific notation (newer Calc) · 10 unused on import · 11 remove spaces: false ·
#: 12 sheet · 13 evaluate formulas: true (as Excel does).
CHARSETS = {"cp932": "60", "utf-8": "76"}


def calc_filter(encoding: str) -> str:
    return f"CSV:44,34,{CHARSETS[encoding]},1,,1041,false,true,true,false,false,-1,true"


_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
}


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


@dataclass(frozen=True)
class Cell:
    """A cell as Calc holds it: its value type (``None`` when empty), formula, shown text and
    value (the date of a date, the number of a float)."""

    kind: str | None
    formula: str | None
    text: str
    value: str | None


def _paragraph_text(paragraph: ET.Element) -> str:
    parts = [paragraph.text or ""]
    for child in paragraph:
        if child.tag == _q("text", "s"):
            parts.append(" " * int(child.get(_q("text", "c"), "1")))
        elif child.tag == _q("text", "tab"):
            parts.append("\t")
        elif child.tag == _q("text", "line-break"):
            parts.append("\n")
        else:
            parts.append(_paragraph_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def calc_cells(fods: Path, *, width: int) -> list[list[Cell]]:
    """The first sheet's rows, ``width`` cells each, trailing empty rows dropped."""
    # The file is LibreOffice's rendering of the test's own download, not untrusted input.
    sheet = ET.parse(fods).getroot().find(".//table:table", _NS)  # noqa: S314
    assert sheet is not None
    rows: list[list[Cell]] = []
    for row in sheet.iter(_q("table", "table-row")):
        cells: list[Cell] = []
        for element in row.findall("table:table-cell", _NS):
            kind = element.get(_q("office", "value-type"))
            cell = Cell(
                kind=kind,
                formula=element.get(_q("table", "formula")),
                text="\n".join(_paragraph_text(p) for p in element.findall("text:p", _NS)),
                value=element.get(_q("office", "date-value")) or element.get(_q("office", "value")),
            )
            repeat = int(element.get(_q("table", "number-columns-repeated"), "1"))
            cells.extend([cell] * min(repeat, width))
        cells = cells[:width]
        if any(cell.kind or cell.formula for cell in cells):
            rows.append(cells + [Cell(None, None, "", None)] * (width - len(cells)))
    return rows


@pytest.fixture(scope="module")
def calc_profile(tmp_path_factory):
    """A LibreOffice user profile of this module's own (``lo-<uuid>``), so parallel runs never
    share one; made by the first conversion, reused by the second."""
    profile = tmp_path_factory.mktemp(f"lo-{uuid.uuid4().hex}")
    yield profile
    shutil.rmtree(profile, ignore_errors=True)


def open_in_calc(data: bytes, *, encoding: str, directory: Path, profile: Path) -> Path:
    source = directory / f"statement-{encoding}.csv"
    source.write_bytes(data)
    subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [
            str(SOFFICE),
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            f"--infilter={calc_filter(encoding)}",
            "--convert-to",
            "fods",
            "--outdir",
            str(directory),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    converted = source.with_suffix(".fods")
    assert converted.exists(), "LibreOffice wrote no .fods"
    return converted


#: Text that spreadsheets like to turn into something else, as merchants (and notes).
TRICKY_MERCHANTS = [
    "=1+1",
    '=HYPERLINK("http://example.com","x")',
    "+81-90",
    "-1200",
    "@SUM(A1)",
    "1/3",
    "3/10",
    "3-4",
    "12-1",
    "0012",
    "1234",
    "M0000001",
    "１２３",
    "１/３",
    "2025-04",
    "2025/03/01",
    "1月3日",
    "12:30",
    "12%",
    "1E5",
    "7 1/2",
    "1,234",
    "(12)",
    "TRUE",
    "false",
    "#N/A",
    "髙橋商店㈱①",
    "セブン-イレブン 盛岡駅前店",
    "3-4番",
]


def _numberish_merchants(count: int) -> list[str]:
    """Short strings of what numbers, dates and times are made of, always the same ones."""
    rng = random.Random(20250420)  # noqa: S311 - test data, not a secret
    alphabet = list("0123456789///---..::,, ") + ["e", "E", "%", "年", "月", "日", "¥", "$"]
    return ["".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(count)]


def _member_statement(member):
    card = CardFactory(member=member, number="4980000000000012")
    merchants = TRICKY_MERCHANTS + _numberish_merchants(120)
    statement = StatementFactory(
        member=member, billing_month="2025-04", fee_total=165, line_count=len(merchants) + 4
    )
    line_no = 0

    def line(**fields):
        nonlocal line_no
        line_no += 1
        statement_usage_line(statement, line_no=line_no, card=card, **fields)

    line(
        merchant="家電の店 盛岡",
        payment_type="分割",
        installment="3/10",
        use_amount=120000,
        billed_amount=12000,
        use_date=dt.date(2025, 1, 10),
    )
    line(
        merchant="旅行代理店",
        payment_type="2回",
        installment="1/2",
        use_amount=50000,
        billed_amount=25000,
        use_date=dt.date(2025, 3, 2),
        note="M0000001",
    )
    line(merchant="返品 盛岡百貨店", use_amount=-1200, use_date=dt.date(2025, 3, 3))
    line(
        merchant="ドラッグストア",
        user_kind="家族",
        payment_type="リボ",
        use_amount=3000,
        billed_amount=3000,
        use_date=dt.date(2025, 3, 4),
        note="1/3",
    )
    for number, merchant in enumerate(merchants):
        line(merchant=merchant, use_amount=100 + number, use_date=dt.date(2025, 3, 5))
    return statement


@time_machine.travel(APRIL_20, tick=False)
@pytest.mark.parametrize("query, encoding", [("", "cp932"), ("?encoding=utf-8", "utf-8")])
def test_calc_with_date_recognition_keeps_every_cell_what_meisai_wrote(
    member_client, account, tmp_path, calc_profile, query, encoding
):
    _member_statement(account.member)
    response = member_client.get(f"/statements/2025-04.csv{query}")
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    written = list(
        csv.reader(
            io.StringIO(data.decode("cp932" if encoding == "cp932" else "utf-8-sig"), newline="")
        )
    )

    sheet = calc_cells(
        open_in_calc(data, encoding=encoding, directory=tmp_path, profile=calc_profile),
        width=len(HEADER),
    )

    assert len(sheet) == len(written) == 1 + 4 + len(TRICKY_MERCHANTS) + 120 + 1
    assert [cell.text for cell in sheet[0]] == HEADER
    assert not [cell for row in sheet for cell in row if cell.formula]
    date_column, amount_columns = 0, {HEADER.index("請求金額"), HEADER.index("利用金額")}
    for calc_row, csv_row in zip(sheet[1:], written[1:], strict=True):
        for column, (cell, text) in enumerate(zip(calc_row, csv_row, strict=True)):
            where = (HEADER[column], text)
            if text == "":
                assert cell.kind is None, where
            elif column == date_column:
                assert (cell.kind, cell.value) == ("date", text), where
            elif column in amount_columns:
                assert (cell.kind, cell.value) == ("float", text), where
            else:
                assert (cell.kind, cell.text) == ("string", text), where

    by_merchant = {row[1].text: row for row in sheet[1:]}
    installment, two_payments = by_merchant["家電の店 盛岡"], by_merchant["旅行代理店"]
    assert [c.text for c in installment[3:7]] == [
        "分割払い",
        "10回中3回目",
        "本人",
        "****-****-****-0012",
    ]
    assert (installment[0].value, installment[2].value, installment[7].value) == (
        "2025-01-10",
        "12000",
        "120000",
    )
    assert [two_payments[4].text, two_payments[9].text] == ["2回中1回目", "M0000001"]
    family = by_merchant["ドラッグストア"]
    assert [family[5].text, family[9].text] == ["家族", "'1/3"]
    assert by_merchant["返品 盛岡百貨店"][2].value == "-1200"
    for merchant in ("=1+1", "+81-90", "@SUM(A1)", "1/3", "3/10", "12-1", "0012", "TRUE"):
        assert by_merchant["'" + merchant][1].kind == "string"
    for merchant in ("M0000001", "髙橋商店㈱①", "3-4番"):
        assert by_merchant[merchant][1].kind == "string"
    fee = sheet[-1]
    assert [fee[0].kind, fee[1].text, fee[2].value, fee[8].text] == [
        None,
        "紙明細発行手数料(税込)",
        "165",
        "2025年4月請求分",
    ]
