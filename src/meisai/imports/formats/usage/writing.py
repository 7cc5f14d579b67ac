"""Writing checked usage rows, in the caller's transaction, and the checks that need what is
stored: a line is never rewritten, a month with a member's statement is closed to them.

* **PostgreSQL** (:class:`CopyStream`, :func:`write_postgresql`): the rows stream by ``COPY``
  (psycopg 3, text format built by hand) while the file is still being read, so the server
  stores one chunk while Python checks the next. While no usage line and no statement of the
  file's months is stored (the usual new month) they go straight into the usage table.
  Otherwise they go into a temporary staging table; set-based SQL then finds members who
  already have a statement for the month and stored lines with the same key and other content
  (reported with the file's line numbers), and one ``INSERT … SELECT … ON CONFLICT DO NOTHING``
  adds the new lines.
* **Any database** (:func:`write_portable`, SQLite): the rows are compared with the stored ones
  in Python and inserted with ``executemany`` in batches.

Table and column names come from ``table.py`` (the model's metadata); nothing from the file is
ever part of the SQL text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django.db import connection

from meisai import card_numbers
from meisai.core.raw_cursor import as_django_errors, raw_cursor
from meisai.imports.formats import chunked
from meisai.imports.formats.usage.table import (
    COLUMNS,
    CONTENT_COLUMNS,
    CONTENT_FIELDS,
    KEY_COLUMNS,
    MONTH_COLUMN,
    ROW_COLUMNS,
    ROW_FIELDS,
    TABLE,
    Row,
    column,
    listed,
    model_field,
)
from meisai.imports.models import ImportBatch
from meisai.imports.reading import Problems
from meisai.members.models import Card, Member
from meisai.statements.models import Statement, UsageLine
from meisai.statements.partitions import month_partitions_ensure

_STAGE = "meisai_usage_stage"


def months_holding_lines(months: Iterable[str]) -> list[str]:
    """Those of ``months`` that hold usage lines, one existence check each (on PostgreSQL the
    month's partition answers at once, empty or not)."""
    return [
        month for month in sorted(months) if UsageLine.objects.filter(billing_month=month).exists()
    ]


class CopyStream:
    """PostgreSQL: checked rows go out by COPY while the file is still being parsed, so the
    server stores one chunk while Python checks the next.

    Straight into the usage table while no month seen so far has stored lines or statements
    (the usual new month: each month is looked up once, when its first chunk is written). From
    the first chunk of a month that has, into a temporary staging table instead, which
    :func:`write_postgresql` merges with set-based checks; the rows written directly before
    belong to months with nothing stored, so nothing can conflict with them.
    """

    def __init__(self, batch: ImportBatch) -> None:
        self.batch = batch
        self.direct_rows = 0
        self.staged = False
        #: The months that held lines before this file wrote any (asked before their first chunk).
        self.held: set[str] = set()
        #: The months asked so far (once staging began, later months are not: see ``load``).
        self.vetted: set[str] = set()
        self._open: contextlib.ExitStack | None = None
        self._copy: Any = None

    def write(self, part: list[Row]) -> None:
        with as_django_errors():
            self._write(part)

    def _write(self, part: list[Row]) -> None:
        if not self.staged:
            months = {row[2] for row in part} - self.vetted
            if months:
                # No query can run on the connection while a COPY is open: end it first.
                self._end(None, None, None)
                # Each month into its own partition (normally made ahead by the close).
                month_partitions_ensure(months)
                # Nothing stored (no line, no statement) for these months: nothing in the file
                # can conflict with stored data, and its rows go straight into the usage table.
                self.held.update(months_holding_lines(months))
                if self.held or Statement.objects.filter(billing_month__in=sorted(months)).exists():
                    self._begin(staged=True)
                self.vetted |= months
        if self._open is None:
            self._begin(staged=False)
        if self.staged:
            self._copy.write(_copy_text(part, file_line=True, tail="\n"))
        else:
            self._copy.write(_copy_text(part, file_line=False, tail=f"\t{self.batch.pk}\n"))
            self.direct_rows += len(part)

    def _begin(self, *, staged: bool) -> None:
        self._open = contextlib.ExitStack()
        cursor = self._open.enter_context(raw_cursor())
        if staged:
            _stage_create(cursor)
            statement = f"COPY {_STAGE} (file_line, {listed(ROW_COLUMNS)}) FROM STDIN"
        else:
            statement = f"COPY {TABLE} ({listed(COLUMNS)}) FROM STDIN"
        self._copy = self._open.enter_context(cursor.copy(statement))
        self.staged = staged

    def _end(self, *exc: Any) -> None:
        if self._open is not None:
            with as_django_errors():
                self._open.__exit__(*exc)
            self._open = self._copy = None

    def __enter__(self) -> CopyStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._end(*exc)


def _stage_create(cursor: Any) -> None:
    """The staging table: the file line, then the usage table's row columns with their types."""
    columns = ", ".join(
        f"{column(UsageLine, name)} {model_field(UsageLine, name).db_type(connection)}"
        for name in ROW_FIELDS
    )
    # A temporary table is never WAL-logged and vanishes with the transaction.
    cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    cursor.execute(f"CREATE TEMP TABLE {_STAGE} (file_line integer, {columns}) ON COMMIT DROP")


def write_postgresql(months: list[str], batch: ImportBatch, problems: Problems) -> int:
    """PostgreSQL, after the rows are staged: set-based checks against stored data (reported with
    the file's line numbers), then one ``INSERT … SELECT … ON CONFLICT DO NOTHING``."""
    member_id, month, line_no = KEY_COLUMNS
    statement_member = column(Statement, "member")
    statement_month = column(Statement, "billing_month")
    member_pk, member_no = Member._meta.pk.column, column(Member, "member_no")
    content = len(CONTENT_COLUMNS)
    with raw_cursor() as cursor:
        cursor.execute(
            f"SELECT s.file_line, s.{month}, m.{member_no} FROM {_STAGE} s"  # noqa: S608
            f" JOIN {Statement._meta.db_table} st ON st.{statement_member} = s.{member_id}"
            f" AND st.{statement_month} = s.{month}"
            f" JOIN {Member._meta.db_table} m ON m.{member_pk} = s.{member_id}"
            f" ORDER BY s.file_line"
        )
        for line, line_month, number in cursor.fetchall():
            problems.add(
                line,
                "billing_month",
                line_month,
                f"member {number} already has a confirmed statement for this month",
            )
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {TABLE} WHERE {month} = ANY(%s))",  # noqa: S608
            [months],
        )
        if cursor.fetchone()[0]:
            cursor.execute(
                f"SELECT s.file_line, s.{line_no}, s.{month},"  # noqa: S608
                f" {listed(CONTENT_COLUMNS, 'u')}, {listed(CONTENT_COLUMNS, 's')}"
                f" FROM {_STAGE} s JOIN {TABLE} u USING ({listed(KEY_COLUMNS)})"
                f" WHERE ({listed(CONTENT_COLUMNS, 'u')})"
                f" IS DISTINCT FROM ({listed(CONTENT_COLUMNS, 's')})"
                f" ORDER BY s.file_line"
            )
            for found in cursor.fetchall():
                _conflict(
                    problems,
                    found[0],
                    found[1],
                    found[2],
                    found[3 : 3 + content],
                    found[3 + content :],
                )
        if problems:
            return 0
        # Months first met after the rows began to be staged have not been asked for yet.
        month_partitions_ensure(months)
        cursor.execute(
            f"INSERT INTO {TABLE} ({listed(COLUMNS)})"  # noqa: S608
            f" SELECT {listed(ROW_COLUMNS)}, %s FROM {_STAGE}"
            f" ON CONFLICT ({listed(KEY_COLUMNS)}) DO NOTHING",
            [batch.pk],
        )
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE {_STAGE}")
    return inserted


def refuse_confirmed_statements(
    rows: list[Row], months: list[str], members: dict[str, int], problems: Problems
) -> None:
    """Any database: a member whose statement of the month exists already: that month is
    closed for them."""
    closed = {
        # str(): the model gives a BillingMonth; the importer speaks the column's text.
        (member_id, str(month))
        for member_id, month in Statement.objects.filter(billing_month__in=months).values_list(
            "member_id", "billing_month"
        )
    }
    if not closed:
        return
    member_nos = {member_id: no for no, member_id in members.items()}
    for row in rows:
        if (row[1], row[2]) in closed:
            problems.add(
                row[0],
                "billing_month",
                row[2],
                f"member {member_nos[row[1]]} already has a confirmed statement for this month",
            )


def write_portable(
    rows: list[Row], months: list[str], batch: ImportBatch, problems: Problems
) -> int:
    """Any database (SQLite): compare with stored lines in Python, insert with executemany."""
    stored: dict[tuple[int, str, int], tuple] = {}
    with connection.cursor() as cursor:
        if months:
            # The columns' own text, whatever type the model gives back for them.
            cursor.execute(
                f"SELECT {listed(ROW_COLUMNS)} FROM {TABLE}"  # noqa: S608
                f" WHERE {MONTH_COLUMN} IN ({', '.join(['%s'] * len(months))})",
                months,
            )
            for values in cursor.fetchall():
                stored[(values[0], values[1], values[2])] = tuple(
                    v.isoformat() if isinstance(v, dt.date) else v for v in values[3:]
                )
        new: list[tuple] = []
        for row in rows:
            found = stored.get((row[1], row[2], row[3]))
            if found is None:
                new.append((*row[1:], batch.pk))
            elif found != row[4:]:
                _conflict(problems, row[0], row[3], row[2], found, row[4:])
        if problems or not new:
            return 0
        marks = ", ".join(["%s"] * len(COLUMNS))
        for part in chunked(new, 5000):
            cursor.executemany(f"INSERT INTO {TABLE} ({listed(COLUMNS)}) VALUES ({marks})", part)  # noqa: S608
    return len(new)


def _conflict(
    problems: Problems, line: int, line_no: int, month: str, stored: tuple, new: tuple
) -> None:
    """Name the first column in which a re-sent line differs from the stored one."""
    for (file_column, _), old, value in zip(CONTENT_FIELDS, stored, new, strict=True):
        if str(old if old is not None else "") != str(value if value is not None else ""):
            if file_column == "card_no":
                last4 = dict(Card.objects.filter(pk__in=[old, value]).values_list("pk", "last4"))
                shown = card_numbers.mask(last4[value]) if value is not None else ""
                was = card_numbers.mask(last4[old]) if old is not None else "none"
            else:
                shown, was = str(value), str(old)
            problems.add(
                line,
                file_column,
                shown,
                f"line {line_no} of {month} was imported before with '{was}': a billed line is "
                "never rewritten (send a correction as a line of a later month)",
            )
            return


_ESCAPE_RE = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NULL = "\\N"


def _text(value: str) -> str:
    """A text value in COPY's text format (backslash, tab, newline and CR escaped)."""
    if _ESCAPE_RE.search(value):
        return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value)
    return value


def _copy_text(rows: list[Row], *, file_line: bool, tail: str) -> bytes:
    """``rows`` in COPY text format, in the order of ``ROW_COLUMNS``, built by hand (much
    faster than per-row adaptation): with the file line first for the staging table, with
    ``tail`` (the batch id) for the usage table. Only merchant and note are free text; every
    other value was checked already (an installment is empty or ``n/m``)."""
    lines = []
    for (
        line,
        member_id,
        month,
        line_no,
        card_id,
        use_date,
        merchant,
        user,
        payment,
        installment,
        use_amount,
        billed_amount,
        note,
    ) in rows:
        text = (
            f"{member_id}\t{month}\t{line_no}\t{_NULL if card_id is None else card_id}\t"
            f"{use_date}\t{_text(merchant)}\t{user}\t{payment}\t{installment}\t{use_amount}\t"
            f"{billed_amount}\t{_text(note)}{tail}"
        )
        lines.append(f"{line}\t{text}" if file_line else text)
    return "".join(lines).encode()
