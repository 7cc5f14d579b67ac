"""Usage details as CSV (SPEC 4.4): one row per statement line under a header row.

Decisions, documented in docs/member-pages.md:

* Columns: what a household-account (家計簿) app reads first — use date, merchant, billed amount,
  payment type, 支払回数, user, card — then the use amount, the billing month and the note.
* The file survives a spreadsheet opened with date recognition on (Excel's default; LibreOffice
  Calc's "detect special numbers"): only the use date becomes a date (ISO ``2025-03-01``), only
  the amounts become numbers, no cell becomes a formula. Meisai's own text has forms no
  spreadsheet reinterprets (支払回数 ``3/10`` is written ``10回中3回目``, the card as its mask
  ``****-****-****-0012``, the billing month ``2025年4月請求分``); a text cell from the core
  system that a spreadsheet would read as a number, date, time, truth value or error (a
  merchant ``1/3``, ``0012``, ``１２３``, ``TRUE``) gets the leading single quote of formula
  neutralisation (``text_cell``). tests/statements/test_csv_spreadsheet.py opens the downloads
  in LibreOffice Calc and reads the cell types back.
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
* Language: the header and meisai's own texts (payment type, 支払回数, user, billing month) are in
  the language chosen when the download starts (docs/i18n.md); the Japanese file is unchanged by
  the English one. The core system's texts (merchant, note) are printed as sent.
* Quoting follows RFC 4180 (the ``csv`` module, CRLF line ends, quotes only where needed).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from django.utils import translation
from django.utils.translation import gettext_lazy

from meisai.core import cp932
from meisai.statements.formatting import payment_name, statement_month, user_name
from meisai.statements.models import LineKind, Statement
from meisai.statements.selectors import Line, statement_view

#: The column names, in the active language when a row is made (``header``).
HEADER = [
    gettext_lazy("利用日"),
    gettext_lazy("利用店名"),
    gettext_lazy("請求金額"),
    gettext_lazy("支払区分"),
    gettext_lazy("支払回数"),
    gettext_lazy("利用者"),
    gettext_lazy("カード番号"),
    gettext_lazy("利用金額"),
    gettext_lazy("請求月"),
    gettext_lazy("備考"),
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


#: What may make up a number, fraction, percentage, amount of money, date or time in a
#: spreadsheet's eyes, once NFKC has folded the full-width forms (Calc reads ``１２３`` as 123).
_VALUE_CHARACTERS = frozenset("0123456789 +-.,/:()%$¥€£")
#: The words and letters a spreadsheet accepts inside such a value: month names, AM/PM, the
#: exponent, the Japanese date and era words, an era letter before a date (``R7.3.1``).
_VALUE_WORDS = re.compile(
    r"(?<![a-z])(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|[ap]\.?m?\.?)(?![a-z])"
    r"|(?<=\d)e(?=[+-]?\d)|(?<![a-z])[mtshr](?=\d{1,2}[./\-年])"
    r"|年|月|日|時|分|秒|午前|午後|令和|平成|昭和|大正|明治|元",
    re.IGNORECASE,
)
#: Whole cells a spreadsheet reads as a truth value or an error value.
_VALUE_LITERALS = re.compile(
    r"\s*(?:true|false|#(?:null!|div/0!|value!|ref!|name\?|num!|n/a|getting_data))\s*",
    re.IGNORECASE,
)


#: Every character ``_VALUE_WORDS`` and ``_VALUE_LITERALS`` may remove: a cell holding any other
#: (beyond ``_VALUE_CHARACTERS``) is text, which settles most cells before any regex runs.
_VALUE_WORD_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ#!?/_."
    "年月日時分秒午前後令和平成昭大正明治元 \t\r\n"
)


@functools.lru_cache(maxsize=4096)
def reads_as_value(cell: str) -> bool:
    """Whether a spreadsheet with date recognition on could read the written ``cell`` as a
    number, date, time, truth value or error rather than as the text it is.

    On the safe side: a cell holding digits and nothing but what a number or date may hold
    counts (``1/3``, ``12-1``, ``0012``, ``2025-04``, ``１２３``); one with any other letter,
    kana, kanji or sign (``M0000001``, ``3-4番``, ``****-****-****-0012``) does not."""
    folded = unicodedata.normalize("NFKC", cell)
    if not set(folded) <= _VALUE_CHARACTERS | _VALUE_WORD_CHARACTERS:
        return False
    if _VALUE_LITERALS.fullmatch(folded):
        return True
    rest = _VALUE_WORDS.sub("", folded)
    return any(char in "0123456789" for char in rest) and set(rest) <= _VALUE_CHARACTERS


def text_cell(text: str, *, encoding: str) -> str:
    """A text cell of the statement CSV as it will be written: neutralised like
    ``neutralise``, and also quoted when a spreadsheet would turn it into a value."""
    cell = written_form(text, encoding=encoding)
    return "'" + cell if starts_formula(cell) or reads_as_value(cell) else cell


_INSTALLMENT = re.compile(r"(\d+)/(\d+)")


def installment_text(installment: str, *, language: str | None = None) -> str:
    """The core system's ``3/10`` (3rd of 10) as ``10回中3回目`` (``3 of 10`` in English): no
    slash, so no spreadsheet reads a date or a fraction in it."""
    match = _INSTALLMENT.fullmatch(installment)
    if not match:
        return installment
    with translation.override(language or translation.get_language()):
        return translation.gettext("{count}回中{number}回目").format(
            count=match[2], number=match[1]
        )


def header(*, language: str | None = None) -> list[str | int]:
    """``HEADER`` in ``language`` (``None``: the active one)."""
    with translation.override(language or translation.get_language()):
        return [str(name) for name in HEADER]


def line_row(
    statement: Statement, line: Line, *, encoding: str, language: str | None = None
) -> list[str | int]:
    """One CSV row in ``HEADER``'s order: the use date as ISO ``YYYY-MM-DD`` (the one cell meant
    to become a date), amounts as integers, every other cell through ``text_cell``; meisai's own
    texts in ``language`` (``None``: the active one)."""
    payment = (
        ""
        if line.kind == LineKind.PAPER_FEE
        else payment_name(line.payment_type, language=language)
    )

    def text(value: str) -> str:
        return text_cell(value, encoding=encoding)

    return [
        line.use_date.isoformat() if line.use_date else "",
        text(line.merchant),
        line.billed_amount,
        text(payment),
        text(installment_text(line.installment, language=language)),
        text(user_name(line.user_kind, language=language)),
        text(line.card.masked if line.card else ""),
        line.use_amount,
        text(statement_month(statement.billing_month, language=language)),
        text(line.note),
    ]


def csv_rows(statements: Iterable[Statement], *, encoding: str) -> Iterator[list[str | int]]:
    """The header and every line's row, in the language active now: a streaming response
    reads the rows after its view has returned, when no request may have that language active."""
    return _rows(statements, encoding=encoding, language=translation.get_language())


def _rows(
    statements: Iterable[Statement], *, encoding: str, language: str
) -> Iterator[list[str | int]]:
    yield header(language=language)
    for statement in statements:
        view = statement_view(statement=statement)
        for line in view.lines:
            yield line_row(statement, line, encoding=encoding, language=language)


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


def content_disposition(*, filename: str, fallback: str, inline: bool = False) -> str:
    """``attachment`` (or ``inline``: shown in the browser) with a Japanese file name (RFC
    5987/6266) and an ASCII one for old agents."""
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
