"""Reading a core-system CSV file: bytes → text → header-checked rows, and the error lines.

Everything here is about the file, not the business: encodings (UTF-8 with or without BOM,
cp932; UTF-16 and binary files refused), the header, rows cut off mid-way, NUL characters,
full-width digits, whole numbers within their column's bounds, and the one error format every
import speaks (SPEC 4.1)::

    FILE:LINE: column COLUMN: value 'VALUE': what is wrong
    FILE: what is wrong                      (the file as a whole)

Whatever the file holds, an error line is one line a person may read: control characters are
escaped (``\\x00``), long values shortened, and every card number (a run of 13–19 digits passing
the Luhn check) masked, in the value and everywhere else in the line (SPEC 3.10).

Per-row helpers are written for speed: the usage file has a million rows, so they use
precompiled regular expressions and small caches instead of general parsers.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from meisai.card_numbers import mask, mask_card_numbers
from meisai.clock import JST
from meisai.core.text import to_half_width

#: The encodings a file may be given in (``--encoding``); detection picks one of them.
ENCODINGS = ("utf-8", "cp932")

#: How many problem lines an ImportBatch keeps (the command prints them all).
STORED_PROBLEMS = 200

_INT_RE = re.compile(r"-?[0-9]+", re.ASCII)
_DECIMAL_RE = re.compile(r"-?[0-9,]*\.[0-9]*", re.ASCII)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})", re.ASCII)
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:[+-][0-9]{2}:?[0-9]{2}|Z)?)?",
    re.ASCII,
)


#: Characters an error line shows escaped: C0 and C1 controls (NUL, line breaks, the separators
#: ``str.splitlines`` breaks on), line and paragraph separators, and the invisible ones that
#: reorder or hide text (zero-width, bidirectional controls, a BOM inside the text).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
#: How many characters of a value an error line shows.
_SHOWN = 60


class FieldError(ValueError):
    """A field's value is wrong; the message says what, in a few words."""


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """``text`` on one line a person can read: every control or invisible character escaped
    (``\\x00``, ``\\n``, ``\\u2028``), every card number masked."""
    return mask_card_numbers(_UNPRINTABLE.sub(_escape, text))


def show_value(value: str, *, card: bool = False) -> str:
    """The value as an error line shows it: card numbers masked, controls escaped, long text
    shortened."""
    if card:
        return printable(mask(value)) if value.strip() else ""
    # Masked before it is shortened, so that no card number is cut to a stub that no longer
    # looks like one. Twice the shown length is enough to look at: a card number (at most 19
    # digits and 18 separators) that starts in the shown part ends inside it.
    text = printable(value[: _SHOWN * 2])
    return text if len(text) <= _SHOWN and len(value) <= _SHOWN * 2 else text[:57] + "..."


@dataclass
class Problems:
    """Every problem found in one file, already formatted as error lines (:func:`printable`)."""

    file_name: str
    entries: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, column: str, value: str, message: str, *, card: bool = False) -> None:
        """A problem of one field: ``FILE:LINE: column COLUMN: value 'VALUE': message``."""
        shown = show_value(value, card=card)
        text = f"{self.file_name}:{line}: column {show_value(column)}: value '{shown}': {message}"
        self.entries.append((line, printable(text)))

    def add_file(self, message: str) -> None:
        """A problem of the file as a whole: ``FILE: message``, before every line's."""
        self.entries.append((0, printable(f"{self.file_name}: {message}")))

    @property
    def lines(self) -> list[str]:
        """The error lines in file order (checks that run after the row pass come last)."""
        return [text for _, text in sorted(self.entries, key=lambda entry: entry[0])]

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


class ImportRefused(Exception):
    """The file is refused as a whole; ``problems`` holds one line per problem."""

    def __init__(self, problems: Problems) -> None:
        super().__init__("\n".join(problems.lines))
        self.problems = problems


# --- bytes to text ----------------------------------------------------------------------------


def decode(data: bytes, *, encoding: str | None, problems: Problems) -> tuple[str, str]:
    """The file as text and the encoding it was read in.

    Detection: a UTF-8 byte order mark, else valid UTF-8, else cp932 (Shift_JIS as Windows
    writes it). A BOM is dropped whatever ``--encoding`` says. UTF-16 (with or without its
    BOM) and binary files are refused as a whole.
    """
    if encoding not in (None, *ENCODINGS):
        raise ValueError(f"unsupported encoding {encoding!r}; use utf-8 or cp932")
    _refuse_utf16(data, problems)
    if data.startswith(codecs.BOM_UTF8):
        if encoding == "cp932":
            problems.add(1, "-", "BOM", "the file starts with a UTF-8 BOM but cp932 was given")
            raise ImportRefused(problems)
        text, _ = _decode_as(data[len(codecs.BOM_UTF8) :], ["utf-8"], problems)
        return text, "utf-8-sig"
    return _decode_as(data, [encoding] if encoding else list(ENCODINGS), problems)


def _refuse_utf16(data: bytes, problems: Problems) -> None:
    """UTF-16 and binary files, which would decode (ASCII in UTF-16 is valid UTF-8, one NUL
    after each letter) into a header of NUL-riddled names: refused as a whole, saying why."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        problems.add_file(
            "the file is UTF-16 (it starts with a UTF-16 byte order mark): "
            "save it as UTF-8 or cp932"
        )
        raise ImportRefused(problems)
    end = data.find(b"\n")
    if b"\x00" in data[: end if end >= 0 else len(data)]:
        problems.add_file(
            "the header row holds NUL bytes: the file looks like UTF-16 or binary; "
            "save it as UTF-8 or cp932"
        )
        raise ImportRefused(problems)


def _decode_as(data: bytes, candidates: list[str], problems: Problems) -> tuple[str, str]:
    """``data`` in the first of ``candidates`` that reads it whole, and that candidate."""
    first_error: UnicodeDecodeError | None = None
    for candidate in candidates:
        try:
            return data.decode(candidate, errors="strict"), candidate
        except UnicodeDecodeError as error:
            first_error = first_error or error
    assert first_error is not None
    line = data.count(b"\n", 0, first_error.start) + 1
    bad = data[first_error.start : first_error.start + 4].hex(" ")
    problems.add(line, "-", bad, f"cannot be read as {' or '.join(candidates)} (give --encoding?)")
    raise ImportRefused(problems)


# --- text to rows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """Column name → position in the file's rows."""

    positions: dict[str, int]
    width: int
    names: list[str]

    def __getitem__(self, name: str) -> int:
        return self.positions[name]

    def __contains__(self, name: object) -> bool:
        return name in self.positions

    def get(self, name: str) -> int | None:
        return self.positions.get(name)


def read_header(
    reader: Any,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    problems: Problems,
) -> Header:
    try:
        names = next(reader)
    except StopIteration:
        problems.add(1, "-", "", "the file is empty: a header row is required")
        raise ImportRefused(problems) from None
    except csv.Error as error:
        problems.add(1, "-", "", f"the header row cannot be read: {error}")
        raise ImportRefused(problems) from None
    names = [to_half_width(name).strip() for name in names]
    positions: dict[str, int] = {}
    allowed = set(required) | set(optional)
    for index, name in enumerate(names):
        if name in positions:
            problems.add(1, name, name, "the column appears twice in the header")
        elif name not in allowed:
            problems.add(
                1,
                name or f"#{index + 1}",
                name,
                f"unknown column (expected: {', '.join(required)})",
            )
        positions.setdefault(name, index)
    for name in required:
        if name not in positions:
            problems.add(1, name, "", "missing column in the header")
    if problems:
        raise ImportRefused(problems)
    return Header(positions=positions, width=len(names), names=names)


def csv_rows(text: str) -> Any:
    """The csv reader meisai uses: strict, so an unterminated quote is an error, not a merge."""
    return csv.reader(io.StringIO(text, newline=""), strict=True)


def data_rows(
    reader: Any, header: Header, problems: Problems, *, nul_possible: bool = True
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data row with the header's width; ``reader`` is a
    :func:`csv_rows` reader that has read the header.

    Rows of the wrong width (a file cut off mid-row, a stray comma), unreadable rows (an
    unterminated quote) and rows with a NUL character in a field (no database column holds
    one: PostgreSQL refuses it) are reported and skipped; blank lines are ignored. The line
    number is the row's first physical line (a quoted field may span lines). ``nul_possible``
    False (the text holds no NUL: one look at the whole file) spares every row that look.
    """
    width = header.width
    line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problems.add(line + 1, header.names[0], "", _unreadable(error))
            return
        start = line + 1
        line = reader.line_num
        if len(row) == width:
            if not (nul_possible and _report_nul(start, row, header, problems)):
                yield start, row
        elif not row or (len(row) == 1 and not row[0].strip()):
            continue
        elif len(row) < width:
            problems.add(
                start,
                header.names[len(row)],
                "",
                f"missing: the row has {len(row)} fields, the header {width} (file cut off mid-row?)",
            )
        else:
            problems.add(
                start,
                f"#{width + 1}",
                row[width],
                f"extra field: the row has {len(row)} fields, the header {width}",
            )


def _unreadable(error: csv.Error) -> str:
    """What an unreadable row is, in a few words."""
    if "field limit" in str(error):
        # csv's own bound: a field this long is no value of any column, and reading it whole
        # would only cost memory.
        return (
            f"the row cannot be read: a field is longer than {csv.field_size_limit():,} characters"
        )
    return f"the row cannot be read ({error}): an unterminated quote, or the file was cut off"


def _report_nul(line: int, row: list[str], header: Header, problems: Problems) -> bool:
    """Report each field of ``row`` holding a NUL character; whether there was one."""
    found = False
    for name, value in zip(header.names, row, strict=True):
        if "\x00" in value:
            problems.add(
                line, name, value, "contains a NUL character: not text (a UTF-16 or binary file?)"
            )
            found = True
    return found


# --- field parsers (raise FieldError) ---------------------------------------------------------


def half(text: str) -> str:
    """Full-width digits and letters to half-width, surrounding spaces removed."""
    if not text.isascii():
        text = to_half_width(text)
    return text.strip()


def within(value: str, bounds: tuple[int, int]) -> int:
    """The whole number ``value`` writes (an optional ``-``, then ASCII digits), refused when
    outside ``bounds`` (its column's, from :mod:`meisai.imports.columns`)."""
    low, high = bounds
    digits = value.lstrip("-").lstrip("0")
    # More digits than either bound has: outside, whatever they are. Checked before int(),
    # which Python itself refuses for thousands of digits.
    if len(digits) > len(str(max(-low, high))):
        number = low - 1 if value.startswith("-") else high + 1
    else:
        number = int(value)
    if number > high:
        raise FieldError(f"too large: at most {high:,}")
    if number < low:
        raise FieldError(f"too small: at least {low:,}")
    return number


def parse_int(text: str, *, bounds: tuple[int, int], what: str = "a whole number") -> int:
    """A whole number in any width within ``bounds`` (its column's)."""
    value = half(text)
    if _INT_RE.fullmatch(value):
        return within(value, bounds)
    if _DECIMAL_RE.fullmatch(value):
        raise FieldError("has a decimal point: amounts are whole yen")
    if not value:
        raise FieldError(f"empty: {what} is required")
    raise FieldError(f"not {what}")


def parse_flag(text: str) -> bool:
    value = half(text)
    if value == "1":
        return True
    if value == "0":
        return False
    raise FieldError("must be 0 or 1")


class DateParser:
    """``YYYY-MM-DD`` → date, with a cache (a usage file repeats a few hundred dates)."""

    def __init__(self) -> None:
        self._cache: dict[str, dt.date | str] = {}

    def __call__(self, text: str) -> dt.date:
        found = self._cache.get(text)
        if found is None:
            found = self._parse(text)
            self._cache[text] = found
        if isinstance(found, str):
            raise FieldError(found)
        return found

    @staticmethod
    def _parse(text: str) -> dt.date | str:
        value = half(text)
        if not value:
            return "empty: a date (YYYY-MM-DD) is required"
        if not _DATE_RE.fullmatch(value):
            return "not a date in the form YYYY-MM-DD"
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return "no such date"


class MonthParser:
    """``YYYY-MM`` → the same text, checked, with a cache."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, bool]] = {}

    def __call__(self, text: str) -> str:
        found = self._cache.get(text)
        if found is None:
            found = self._parse(text)
            self._cache[text] = found
        if not found[1]:
            raise FieldError(found[0])
        return found[0]

    @staticmethod
    def _parse(text: str) -> tuple[str, bool]:
        value = half(text)
        match = _MONTH_RE.fullmatch(value)
        if not match:
            return ("not a month in the form YYYY-MM", False)
        if not 1 <= int(match.group(2)) <= 12:
            return ("no such month", False)
        return (value, True)


def parse_moment(text: str) -> dt.datetime:
    """``YYYY-MM-DD[ HH:MM[:SS]][+09:00]`` → aware datetime; Japan time when no offset."""
    value = half(text)
    if not _DATETIME_RE.fullmatch(value):
        raise FieldError("not a date-time (YYYY-MM-DD HH:MM:SS, Japan time)")
    try:
        moment = (
            dt.datetime.fromisoformat(value)
            if len(value) > 10
            else dt.datetime.combine(dt.date.fromisoformat(value), dt.time(0))
        )
    except ValueError:
        raise FieldError("no such date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    try:
        # Stored in UTC: a moment whose UTC is before year 1 or after 9999 is no datetime.
        moment.astimezone(dt.UTC)
    except OverflowError:
        raise FieldError("out of range (years 1 to 9999 in UTC)") from None
    return moment


def text_field(text: str, *, max_length: int, required: bool) -> str:
    """Text, surrounding spaces removed, at most ``max_length`` (its column's) characters."""
    value = text.strip()
    if required and not value:
        raise FieldError("empty: a value is required")
    if len(value) > max_length:
        raise FieldError(f"longer than {max_length} characters")
    return value


#: A validator of one field; bound once per file so per-row work stays small.
FieldParser = Callable[[str], object]
