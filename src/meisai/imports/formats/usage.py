"""usage: the usage lines of one or more billing months — the big file (a million rows).

``member_no, billing_month, line_no, use_date, merchant, user, payment_type, installment,
use_amount, billed_amount, note`` and optionally ``card_no`` (the line is then tied to that
card, which must be the member's).

Rules beyond the field formats:

* unique on (member_no, billing_month, line_no) inside the file and against what is stored; a
  stored line with the same key and the same content is left as it is (re-import is a no-op),
  one with different content is an error: a billed line is never rewritten, corrections come
  as lines of a later month;
* no line for a month already confirmed (a confirmed ``MonthClose``, or a statement of that
  member and month);
* ``installment`` is ``n/m`` (1 ≤ n ≤ m ≤ 999): required for 分割, optional for 2回 (m = 2)
  and リボ, empty for 1回 and ボーナス.

Speed: rows are checked in Python with precompiled patterns, caches and dict look-ups loaded
once. On PostgreSQL the checked rows stream by ``COPY`` (psycopg 3, text format built by hand)
while the file is still being parsed, so the server stores one chunk while Python checks the
next. While no usage line and no statement of the file's months is stored (the usual new
month) they go straight into the usage table. Otherwise they go into a temporary staging
table; set-based SQL then finds members who already have a
statement for the month and stored lines with the same key and other content (reported with
the file's line numbers), and one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` adds the new
lines. On SQLite the rows are compared in Python and inserted with ``executemany`` in
batches. Either way, in the caller's transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from django.db import connection

from meisai import card_numbers
from meisai.core.text import to_half_width
from meisai.imports.formats import Counts, ParsedFile, chunked
from meisai.imports.models import ImportBatch
from meisai.imports.reading import ImportRefused, Problems
from meisai.members.models import Card, Member
from meisai.statements.models import MonthClose, PaymentType, Statement, UsageLine, UserKind

REQUIRED = (
    "member_no",
    "billing_month",
    "line_no",
    "use_date",
    "merchant",
    "user",
    "payment_type",
    "installment",
    "use_amount",
    "billed_amount",
    "note",
)
OPTIONAL = ("card_no",)

#: The content of a line, in the order rows carry it after (file line, member id, month, no).
CONTENT_COLUMNS = (
    ("card_no", "card_id"),
    ("use_date", "use_date"),
    ("merchant", "merchant"),
    ("user", "user_kind"),
    ("payment_type", "payment_type"),
    ("installment", "installment"),
    ("use_amount", "use_amount"),
    ("billed_amount", "billed_amount"),
    ("note", "note"),
)
_TABLE_COLUMNS = ("member_id", "billing_month", "line_no") + tuple(c for _, c in CONTENT_COLUMNS)

_INT_RE = re.compile(r"-?[0-9]+", re.ASCII)
_DECIMAL_RE = re.compile(r"-?[0-9,]*\.[0-9]*", re.ASCII)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)
_INSTALLMENT_RE = re.compile(r"([0-9]{1,3})/([0-9]{1,3})", re.ASCII)

_USERS = frozenset(UserKind.values)
_PAYMENTS = frozenset(PaymentType.values)
_NEEDS_INSTALLMENT = frozenset({PaymentType.INSTALLMENT.value})
_NO_INSTALLMENT = frozenset({PaymentType.ONCE.value, PaymentType.BONUS.value})

#: Checked rows are handed on (to COPY on PostgreSQL) in chunks of this many file rows.
CHUNK_ROWS = 20_000

#: A row as checked: (file line, member id, month, line no, card id, use date, merchant, user,
#: payment type, installment, use amount, billed amount, note).
Row = tuple[int, int, str, int, int | None, str, str, str, str, str, int, int, str]


def _amount_problem(value: str) -> str:
    value = value.strip()
    if not value:
        return "empty: an amount in whole yen is required"
    if _DECIMAL_RE.fullmatch(value):
        return "has a decimal point: amounts are whole yen"
    return "not a whole number of yen"


def _date_check(value: str) -> str | None:
    """None when ``value`` is a real ``YYYY-MM-DD`` date, else what is wrong."""
    if not _DATE_RE.fullmatch(value):
        return "not a date in the form YYYY-MM-DD" if value else "empty: a use date is required"
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return "no such date"
    return None


def _installment_problem(value: str, payment: str) -> str | None:
    if not value:
        if payment in _NEEDS_INSTALLMENT:
            return "required for 分割 (n/m, e.g. 3/10)"
        return None
    if payment in _NO_INSTALLMENT:
        return f"must be empty for {payment}"
    match = _INSTALLMENT_RE.fullmatch(value)
    if not match:
        return "not n/m (e.g. 3/10)"
    n, m = int(match.group(1)), int(match.group(2))
    if not 1 <= n <= m:
        return "n/m needs 1 ≤ n ≤ m"
    if payment == PaymentType.TWICE and m != 2:
        return "2回 is n/2"
    return None


def load(*, file: ParsedFile, batch: ImportBatch) -> Counts:
    header, problems = file.header, file.problems
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The close holds SHARE on the usage table while it confirms a month: waiting for it
            # here (before reading which months are confirmed) means a line can never slip into
            # a month confirmed meanwhile; a close started later waits for this import instead.
            cursor.execute(f"LOCK TABLE {UsageLine._meta.db_table} IN ROW EXCLUSIVE MODE")
    members: dict[str, int] = dict(Member.objects.values_list("member_no", "id"))
    confirmed = set(
        MonthClose.objects.filter(status=MonthClose.Status.CONFIRMED).values_list(
            "billing_month", flat=True
        )
    )
    i_card = header.get("card_no")
    card_owner: dict[str, tuple[int, int]] = {}
    if i_card is not None:
        card_owner = {
            number_hash: (card_id, member_id)
            for number_hash, card_id, member_id in Card.objects.values_list(
                "number_hash", "id", "member_id"
            )
        }

    postgresql = connection.vendor == "postgresql"
    with contextlib.ExitStack() as stack:
        kept: list[Row] = []
        flush: Callable[[list[Row]], None] = kept.extend
        if postgresql:
            stream = stack.enter_context(_CopyStream(batch))
            flush = stream.write
        months = _check_rows(
            file, problems, members, confirmed, card_owner, i_card, flush,
            tuple(header[c] for c in REQUIRED), counts := Counts(),
        )  # fmt: skip

    if postgresql:
        counts.inserted = stream.direct_rows
        if stream.staged:
            counts.inserted += _write_postgresql(sorted(months), batch, problems)
    else:
        _refuse_confirmed_statements(kept, sorted(months), members, problems)
        counts.inserted = _write_portable(kept, sorted(months), batch, problems)
    if problems:
        raise ImportRefused(problems)
    return counts


def _nothing_stored_for(months: set[str] | None) -> bool:
    """True when no usage line and no statement of these months is stored: then nothing in the
    file can conflict with stored data and its rows may go straight into the usage table."""
    if not months:
        return False
    listed = sorted(months)
    return (
        not UsageLine.objects.filter(billing_month__in=listed).exists()
        and not Statement.objects.filter(billing_month__in=listed).exists()
    )


class _CopyStream:
    """PostgreSQL: checked rows go out by COPY while the file is still being parsed, so the
    server stores one chunk while Python checks the next.

    Straight into the usage table while no month seen so far has stored lines or statements
    (the usual new month: each month is looked up once, when its first chunk is written). From
    the first chunk of a month that has, into a temporary staging table instead, which
    ``_write_postgresql`` merges with set-based checks; the rows written directly before belong
    to months with nothing stored, so nothing can conflict with them.
    """

    def __init__(self, batch: ImportBatch) -> None:
        self.batch = batch
        self.direct_rows = 0
        self.staged = False
        self._vetted: set[str] = set()
        self._open: contextlib.ExitStack | None = None
        self._copy: Any = None

    def write(self, part: list[Row]) -> None:
        if not self.staged:
            months = {row[2] for row in part} - self._vetted
            if months:
                # No query can run on the connection while a COPY is open: end it first.
                self._end(None, None, None)
                if not _nothing_stored_for(months):
                    self._begin(staged=True)
                self._vetted |= months
        if self._open is None:
            self._begin(staged=False)
        if self.staged:
            self._copy.write(_copy_text(part, file_line=True, tail="\n"))
        else:
            self._copy.write(_copy_text(part, file_line=False, tail=f"\t{self.batch.pk}\n"))
            self.direct_rows += len(part)

    def _begin(self, *, staged: bool) -> None:
        self._open = contextlib.ExitStack()
        cursor = self._open.enter_context(connection.cursor()).cursor
        if staged:
            _stage_create(cursor)
            statement = f"COPY {_STAGE} ({_STAGE_COLUMNS}) FROM STDIN"
        else:
            statement = f"COPY {UsageLine._meta.db_table} ({_DIRECT_COLUMNS}, batch_id) FROM STDIN"
        self._copy = self._open.enter_context(cursor.copy(statement))
        self.staged = staged

    def _end(self, *exc: Any) -> None:
        if self._open is not None:
            self._open.__exit__(*exc)
            self._open = self._copy = None

    def __enter__(self) -> _CopyStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._end(*exc)


def _check_rows(  # noqa: C901 — one hot loop, kept flat for speed
    file: ParsedFile,
    problems: Problems,
    members: dict[str, int],
    confirmed: set[str],
    card_owner: dict[str, tuple[int, int]],
    i_card: int | None,
    flush: Callable[[list[Row]], None],
    columns: tuple[int, ...],
    counts: Counts,
) -> set[str]:
    """Check every row; hand the good ones to ``flush`` in chunks; return the months seen."""
    (
        i_member,
        i_month,
        i_no,
        i_date,
        i_merchant,
        i_user,
        i_payment,
        i_inst,
        i_use,
        i_billed,
        i_note,
    ) = columns
    add = problems.add
    months_seen: set[str] = set()
    months_ok: dict[str, str | None] = {}
    dates_ok: dict[str, str | None] = {}
    installments_ok: dict[tuple[str, str], str | None] = {}
    seen: dict[tuple[int, str, int], int] = {}
    rows: list[Row] = []
    advance = file.advance
    pending = 0
    for line, f in file.rows:
        pending += 1
        if pending == CHUNK_ROWS:
            advance(pending)
            counts.rows += pending
            pending = 0
            if rows:
                flush(rows)
                rows = []
        ok = True

        member_no = f[i_member]
        if not member_no.isascii():
            member_no = to_half_width(member_no)
        member_id = members.get(member_no)
        if member_id is None:
            member_no = member_no.strip()
            member_id = members.get(member_no)
            if member_id is None:
                add(line, "member_no", f[i_member], "unknown member number")
                ok = False

        month = f[i_month]
        if month not in months_ok:
            value = to_half_width(month).strip()
            months_ok[month] = (
                ("confirmed" if value in confirmed else None)
                if _MONTH_RE.fullmatch(value)
                else "not a billing month in the form YYYY-MM"
            )
        month_problem = months_ok[month]
        if month_problem is not None:
            if month_problem == "confirmed":
                add(
                    line,
                    "billing_month",
                    month,
                    "the billing month is already confirmed (締め済み): corrections go into a later month",
                )
            else:
                add(line, "billing_month", month, month_problem)
            ok = False
        elif not month.isascii() or month != month.strip():
            month = to_half_width(month).strip()

        # ASCII digit tests with str methods: the common case costs a third of a regex match.
        line_no_text = f[i_no]
        if not (line_no_text.isascii() and line_no_text.isdigit()):
            line_no_text = to_half_width(line_no_text).strip()
        if (
            len(line_no_text) <= 9
            and line_no_text.isascii()
            and line_no_text.isdigit()
            and int(line_no_text) > 0
        ):
            line_no = int(line_no_text)
        else:
            add(line, "line_no", f[i_no], "not a positive whole number")
            ok = False
            line_no = 0

        use_date = f[i_date]
        if use_date not in dates_ok:
            dates_ok[use_date] = _date_check(to_half_width(use_date).strip())
        date_problem = dates_ok[use_date]
        if date_problem is not None:
            add(line, "use_date", use_date, date_problem)
            ok = False
        elif not use_date.isascii() or len(use_date) != 10:
            use_date = to_half_width(use_date).strip()

        merchant = f[i_merchant].strip()
        if not merchant or len(merchant) > 200:
            add(
                line,
                "merchant",
                f[i_merchant],
                "empty: a merchant is required" if not merchant else "longer than 200 characters",
            )
            ok = False

        user = f[i_user].strip()
        if user not in _USERS:
            add(line, "user", f[i_user], "must be 本人 or 家族")
            ok = False

        payment = f[i_payment].strip()
        if payment not in _PAYMENTS:
            add(line, "payment_type", f[i_payment], "must be 1回, 2回, ボーナス, 分割 or リボ")
            ok = False
        else:
            installment = f[i_inst]
            key = (installment, payment)
            if key not in installments_ok:
                installments_ok[key] = _installment_problem(
                    to_half_width(installment).strip(), payment
                )
            installment_problem = installments_ok[key]
            if installment_problem is not None:
                add(line, "installment", installment, installment_problem)
                ok = False
            elif installment and (not installment.isascii() or installment != installment.strip()):
                installment = to_half_width(installment).strip()

        use_text = f[i_use]
        if not (
            use_text.isascii()
            and (use_text.isdigit() or (use_text[:1] == "-" and use_text[1:].isdigit()))
        ):
            use_text = to_half_width(use_text).strip()
            if not _INT_RE.fullmatch(use_text):
                add(line, "use_amount", f[i_use], _amount_problem(use_text))
                ok = False
        billed_text = f[i_billed]
        if not (
            billed_text.isascii()
            and (billed_text.isdigit() or (billed_text[:1] == "-" and billed_text[1:].isdigit()))
        ):
            billed_text = to_half_width(billed_text).strip()
            if not _INT_RE.fullmatch(billed_text):
                add(line, "billed_amount", f[i_billed], _amount_problem(billed_text))
                ok = False

        note = f[i_note].strip()
        if len(note) > 200:
            add(line, "note", f[i_note], "longer than 200 characters")
            ok = False

        card_id: int | None = None
        if i_card is not None and f[i_card].strip():
            digits = card_numbers.normalize_card_number(f[i_card])
            owner = (
                card_owner.get(card_numbers.card_hash(digits))
                if card_numbers.is_card_number(digits)
                else None
            )
            if owner is None:
                add(line, "card_no", f[i_card], "unknown card number", card=True)
                ok = False
            elif member_id is not None and owner[1] != member_id:
                add(line, "card_no", f[i_card], "the card is not this member's", card=True)
                ok = False
            else:
                card_id = owner[0]

        if member_id is not None and month_problem is None and line_no:
            unique = (member_id, month, line_no)
            first = seen.get(unique)
            if first is not None:
                add(
                    line,
                    "line_no",
                    f[i_no],
                    f"duplicate: member {member_no} {month} line {line_no} is already on line {first}",
                )
                continue
            seen[unique] = line
        if not ok:
            continue
        assert member_id is not None
        rows.append(
            (
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
                int(use_text),
                int(billed_text),
                note,
            )
        )
    advance(pending)
    counts.rows += pending
    if rows:
        flush(rows)
    for month in months_ok:
        if months_ok[month] is None:
            months_seen.add(to_half_width(month).strip())
    return months_seen


def _refuse_confirmed_statements(
    rows: list[Row], months: list[str], members: dict[str, int], problems: Problems
) -> None:
    """A member whose statement of the month exists already: that month is closed for them."""
    closed = set(
        Statement.objects.filter(billing_month__in=months).values_list("member_id", "billing_month")
    )
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


def _conflict(
    problems: Problems, line: int, line_no: int, month: str, stored: tuple, new: tuple
) -> None:
    """Name the first column in which a re-sent line differs from the stored one."""
    for (column, _), old, value in zip(CONTENT_COLUMNS, stored, new, strict=True):
        if str(old if old is not None else "") != str(value if value is not None else ""):
            if column == "card_no":
                last4 = dict(Card.objects.filter(pk__in=[old, value]).values_list("pk", "last4"))
                shown = card_numbers.mask(last4[value]) if value is not None else ""
                was = card_numbers.mask(last4[old]) if old is not None else "none"
            else:
                shown, was = str(value), str(old)
            problems.add(
                line,
                column,
                shown,
                f"line {line_no} of {month} was imported before with '{was}': a billed line is "
                "never rewritten (send a correction as a line of a later month)",
            )
            return


def _write_portable(
    rows: list[Row], months: list[str], batch: ImportBatch, problems: Problems
) -> int:
    """Any database (SQLite): compare with stored lines in Python, insert with executemany."""
    stored: dict[tuple[int, str, int], tuple] = {}
    for values in UsageLine.objects.filter(billing_month__in=months).values_list(*_TABLE_COLUMNS):
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
    table = UsageLine._meta.db_table
    columns = ", ".join((*_TABLE_COLUMNS, "batch_id"))
    marks = ", ".join(["%s"] * (len(_TABLE_COLUMNS) + 1))
    with connection.cursor() as cursor:
        for part in chunked(new, 5000):
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", part)  # noqa: S608
    return len(new)


#: Table names in the SQL below come from model metadata and constants, never from input.
_STAGE = "meisai_usage_stage"
_DIRECT_COLUMNS = (
    "member_id, billing_month, line_no, card_id, use_date, merchant, user_kind,"
    " payment_type, installment, use_amount, billed_amount, note"
)
_STAGE_COLUMNS = (
    "file_line, member_id, billing_month, line_no, card_id, use_date, merchant, user_kind,"
    " payment_type, installment, use_amount, billed_amount, note"
)


def _stage_create(cursor: Any) -> None:
    # A temporary table is never WAL-logged and vanishes with the transaction.
    cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    cursor.execute(
        f"CREATE TEMP TABLE {_STAGE} ("
        "file_line integer, member_id bigint, billing_month varchar(7), line_no integer,"
        " card_id bigint, use_date date, merchant varchar(200), user_kind varchar(4),"
        " payment_type varchar(6), installment varchar(9), use_amount bigint,"
        " billed_amount bigint, note varchar(200)) ON COMMIT DROP"
    )


def _write_postgresql(months: list[str], batch: ImportBatch, problems: Problems) -> int:
    """PostgreSQL, after the rows are staged: set-based checks against stored data (reported with
    the file's line numbers), then one ``INSERT … SELECT … ON CONFLICT DO NOTHING``."""
    table = UsageLine._meta.db_table
    statements = Statement._meta.db_table
    member_table = Member._meta.db_table
    content = ", ".join(c for _, c in CONTENT_COLUMNS)
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        cursor.execute(
            f"SELECT s.file_line, s.billing_month, m.member_no FROM {_STAGE} s"  # noqa: S608
            f" JOIN {statements} st ON st.member_id = s.member_id"
            f" AND st.billing_month = s.billing_month"
            f" JOIN {member_table} m ON m.id = s.member_id ORDER BY s.file_line"
        )
        for line, month, member_no in cursor.fetchall():
            problems.add(
                line,
                "billing_month",
                month,
                f"member {member_no} already has a confirmed statement for this month",
            )
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE billing_month = ANY(%s))",  # noqa: S608
            [months],
        )
        if cursor.fetchone()[0]:
            cursor.execute(
                f"SELECT s.file_line, s.line_no, s.billing_month,"  # noqa: S608
                f" u.card_id, u.use_date::text, u.merchant, u.user_kind, u.payment_type,"
                f" u.installment, u.use_amount, u.billed_amount, u.note,"
                f" s.card_id, s.use_date::text, s.merchant, s.user_kind, s.payment_type,"
                f" s.installment, s.use_amount, s.billed_amount, s.note"
                f" FROM {_STAGE} s JOIN {table} u USING (member_id, billing_month, line_no)"
                f" WHERE ({', '.join('u.' + c for _, c in CONTENT_COLUMNS)})"
                f" IS DISTINCT FROM ({', '.join('s.' + c for _, c in CONTENT_COLUMNS)})"
                f" ORDER BY s.file_line"
            )
            for found in cursor.fetchall():
                _conflict(problems, found[0], found[1], found[2], found[3:12], found[12:21])
        if problems:
            return 0
        cursor.execute(
            f"INSERT INTO {table} (member_id, billing_month, line_no, {content}, batch_id)"  # noqa: S608
            f" SELECT member_id, billing_month, line_no, {content}, %s FROM {_STAGE}"
            f" ON CONFLICT (billing_month, member_id, line_no) DO NOTHING",
            [batch.pk],
        )
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE {_STAGE}")
    return inserted


_ESCAPE_RE = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NULL = "\\N"


def _text(value: str) -> str:
    """A text value in COPY's text format (backslash, tab, newline and CR escaped)."""
    if _ESCAPE_RE.search(value):
        return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value)
    return value


def _copy_text(rows: list[Row], *, file_line: bool, tail: str) -> bytes:
    """``rows`` in COPY text format, built by hand (much faster than per-row adaptation): with
    the file line first for the staging table, with ``tail`` (the batch id) for the usage table.
    Only merchant and note are free text; every other value was checked already (an
    installment is empty or ``n/m``)."""
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
