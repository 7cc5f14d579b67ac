"""Usage details as CSV (SPEC 4.4): one row per statement line under a header row.

Decisions, documented in docs/member-pages.md:

* Encoding: cp932 (what Excel on Japanese Windows opens) by default, UTF-8 with a BOM on
  request. Not ``shift_jis``: that codec rejects characters members do have in their
  statements (髙, ㈱, ①).
* A character cp932 cannot hold is written as its closest cp932 form, otherwise as ``〓``
  (``meisai.core.cp932``). Nothing is dropped and encoding never fails halfway through a
  download.
* Formula injection: a *text* cell is checked as it will be written in the chosen encoding (cp932
  writes ﹦ as ``=``), and one that begins — after NFKC and leading spaces — with ``= + - @``
  (so also ＝ ＋ － ＠ ﹦ ⁼ …), or with a tab, CR or LF, gets a leading single quote, which
  spreadsheet programs show as text. Amounts are written as plain integers and are never
  touched, so a refund stays the number ``-1200``.
* Quoting follows RFC 4180 (the ``csv`` module, CRLF line ends, quotes only where needed).
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from meisai.core import cp932
from meisai.statements.formatting import payment_label, short_date
from meisai.statements.models import LineKind, Statement
from meisai.statements.selectors import Line, statement_view

HEADER: list[str | int] = [
    "請求月",
    "カード番号",
    "利用者",
    "利用日",
    "利用店名",
    "支払区分",
    "分割回数",
    "利用金額",
    "請求金額",
    "備考",
]

ENCODINGS = {"cp932": "cp932", "utf-8": "utf-8-sig"}

#: What a spreadsheet reads as the start of a formula once NFKC has folded its look-alikes.
_FORMULA_STARTS = ("=", "+", "-", "@")
#: Controls that start a formula, or a new line, in some spreadsheet.
_CONTROL_STARTS = ("\t", "\r", "\n")


def starts_formula(cell: str) -> bool:
    """Whether a spreadsheet could read the written ``cell`` as a formula."""
    if cell.startswith(_CONTROL_STARTS):
        return True
    # Only the start matters; NFKC of a prefix long enough for any leading spaces is enough.
    return unicodedata.normalize("NFKC", cell[:32]).lstrip().startswith(_FORMULA_STARTS)


def written_form(text: str, *, encoding: str) -> str:
    """``text`` as the file will hold it: cp932 replaces what it cannot hold (``core.cp932``)."""
    return cp932.encode(text).decode("cp932") if encoding == "cp932" else text


def neutralise(text: str, *, encoding: str) -> str:
    """A text cell as it will be written, with a leading single quote if it could run."""
    cell = written_form(text, encoding=encoding)
    return "'" + cell if starts_formula(cell) else cell


def line_row(statement: Statement, line: Line, *, encoding: str) -> list[str | int]:
    """One CSV row; text cells neutralised, amounts as integers."""
    payment = "" if line.kind == LineKind.PAPER_FEE else payment_label(line.payment_type)
    text_cells = [
        str(statement.billing_month),
        line.card.masked if line.card else "",
        line.user_kind,
        short_date(line.use_date),
        line.merchant,
        payment,
        line.installment,
    ]
    return [
        *(neutralise(cell, encoding=encoding) for cell in text_cells),
        line.use_amount,
        line.billed_amount,
        neutralise(line.note, encoding=encoding),
    ]


def csv_rows(statements: Iterable[Statement], *, encoding: str) -> Iterator[list[str | int]]:
    yield list(HEADER)
    for statement in statements:
        view = statement_view(statement=statement)
        for line in view.lines:
            yield line_row(statement, line, encoding=encoding)


def csv_chunks(rows: Iterable[list[str | int]], *, encoding: str) -> Iterator[bytes]:
    """Encoded CSV in chunks of some rows each, for a streaming response."""
    codec = ENCODINGS[encoding]
    errors = cp932.ERRORS if codec == "cp932" else "strict"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    first = True
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % 200 == 0:
            yield _drain(buffer, codec, errors, first)
            first = False
    yield _drain(buffer, codec, errors, first)


def _drain(buffer: io.StringIO, codec: str, errors: str, first: bool) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    data = text.encode("utf-8" if codec == "utf-8-sig" else codec, errors)
    if codec == "utf-8-sig" and first:
        data = codecs.BOM_UTF8 + data
    return data


def content_disposition(*, filename: str, fallback: str) -> str:
    """``attachment`` with a Japanese file name (RFC 5987/6266) and an ASCII one for old agents."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
