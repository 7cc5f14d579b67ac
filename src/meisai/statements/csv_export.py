"""Usage details as CSV (SPEC 4.4): one row per statement line under a header row.

Decisions, documented in docs/member-pages.md:

* Encoding: cp932 (what Excel on Japanese Windows opens) by default, UTF-8 with a BOM on
  request. Not ``shift_jis``: that codec rejects characters members do have in their
  statements (髙, ㈱, ①).
* A character cp932 cannot hold is written as its closest cp932 form, otherwise as ``〓``
  (``meisai.core.cp932``). Nothing is dropped and encoding never fails halfway through a
  download.
* Formula injection: a *text* cell that begins with ``= + - @ ＝ ＋ － ＠``, a tab or a carriage
  return gets a leading single quote, which spreadsheet programs show as text. Amounts are
  written as plain integers and are never touched, so a refund stays the number ``-1200``.
* Quoting follows RFC 4180 (the ``csv`` module, CRLF line ends, quotes only where needed).
"""

from __future__ import annotations

import codecs
import csv
import io
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

#: What a spreadsheet reads as the start of a formula (ASCII and full-width) or a control.
_FORMULA_STARTS = ("=", "+", "-", "@", "＝", "＋", "－", "＠", "\t", "\r")


def neutralise(text: str) -> str:
    """A text cell a spreadsheet could run as a formula gets a leading single quote."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def line_row(statement: Statement, line: Line) -> list[str | int]:
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
        *(neutralise(cell) for cell in text_cells),
        line.use_amount,
        line.billed_amount,
        neutralise(line.note),
    ]


def csv_rows(statements: Iterable[Statement]) -> Iterator[list[str | int]]:
    yield list(HEADER)
    for statement in statements:
        view = statement_view(statement=statement)
        for line in view.lines:
            yield line_row(statement, line)


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
