"""Reading a core-system CSV file: bytes → text → header-checked rows, and the error lines.

Everything here is about the file, not the business: encodings (UTF-8 with or without BOM,
cp932), the header, rows cut off mid-way, full-width digits, and the one error format every
import speaks (SPEC 4.1)::

    FILE:LINE: column COLUMN: value 'VALUE': what is wrong

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

from meisai.card_numbers import mask
from meisai.clock import JST
from meisai.core.text import to_half_width

#: The encodings a file may be given in (``--encoding``); detection picks one of them.
ENCODINGS = ("utf-8", "cp932")

#: How many problem lines an ImportBatch keeps (the command prints them all).
STORED_PROBLEMS = 200

_INT_RE = re.compile(r"-?[0-9]+", re.ASCII)
_UNSIGNED_RE = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL_RE = re.compile(r"-?[0-9,]*\.[0-9]*", re.ASCII)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})", re.ASCII)
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:[+-][0-9]{2}:?[0-9]{2}|Z)?)?",
    re.ASCII,
)


class FieldError(ValueError):
    """A field's value is wrong; the message says what, in a few words."""


def show_value(value: str, *, card: bool = False) -> str:
    """The value as an error line shows it: card numbers masked, long text shortened."""
    if card:
        return mask(value) if value.strip() else ""
    text = value.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Problems:
    """Every problem found in one file, already formatted as error lines."""

    file_name: str
    entries: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, column: str, value: str, message: str, *, card: bool = False) -> None:
        shown = show_value(value, card=card)
        self.entries.append(
            (line, f"{self.file_name}:{line}: column {column}: value '{shown}': {message}")
        )

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
    writes it). A BOM is dropped whatever ``--encoding`` says.
    """
    if encoding not in (None, *ENCODINGS):
        raise ValueError(f"unsupported encoding {encoding!r}; use utf-8 or cp932")
    if data.startswith(codecs.BOM_UTF8):
        if encoding == "cp932":
            problems.add(1, "-", "BOM", "the file starts with a UTF-8 BOM but cp932 was given")
            raise ImportRefused(problems)
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    candidates = [encoding] if encoding else list(ENCODINGS)
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


def data_rows(reader: Any, header: Header, problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data row with the header's width; ``reader`` is a
    :func:`csv_rows` reader that has read the header.

    Rows of the wrong width (a file cut off mid-row, a stray comma) and unreadable rows (an
    unterminated quote) are reported and skipped; blank lines are ignored. The line number is
    the row's first physical line (a quoted field may span lines).
    """
    width = header.width
    line = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problems.add(
                line + 1,
                header.names[0],
                "",
                f"the row cannot be read ({error}): an unterminated quote, or the file was cut off",
            )
            return
        start = line + 1
        line = reader.line_num
        if len(row) == width:
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


# --- field parsers (raise FieldError) ---------------------------------------------------------


def half(text: str) -> str:
    """Full-width digits and letters to half-width, surrounding spaces removed."""
    if not text.isascii():
        text = to_half_width(text)
    return text.strip()


def parse_int(text: str, *, what: str = "a whole number") -> int:
    value = half(text)
    if _INT_RE.fullmatch(value):
        return int(value)
    if _DECIMAL_RE.fullmatch(value):
        raise FieldError("has a decimal point: amounts are whole yen")
    if not value:
        raise FieldError(f"empty: {what} is required")
    raise FieldError(f"not {what}")


def parse_positive(text: str) -> int:
    value = half(text)
    if _UNSIGNED_RE.fullmatch(value) and int(value) > 0:
        return int(value)
    raise FieldError("not a positive whole number")


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
    return moment


def text_field(text: str, *, max_length: int, required: bool) -> str:
    value = text.strip()
    if required and not value:
        raise FieldError("empty: a value is required")
    if len(value) > max_length:
        raise FieldError(f"longer than {max_length} characters")
    return value


#: A validator of one field; bound once per file so per-row work stays small.
FieldParser = Callable[[str], object]
