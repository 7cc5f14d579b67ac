"""The row loop of the usage import: every row through every column's check, every problem
reported, the good rows handed on in chunks while the file is still being read.

This is the hot loop (a million rows, ``bench/import_usage.py``): the usual row passes every
check at once, one memo look-up per column, and is built in one expression. A row that fails
anywhere is checked again column by column, so that each of its problems is reported under its
own column, in the file's column order, then its duplicate key if it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meisai.imports.formats import Counts, ParsedFile
from meisai.imports.formats.usage.checks import Checks
from meisai.imports.formats.usage.table import Row
from meisai.imports.reading import FieldError, Header, Problems, half

#: The columns every usage file has, in the order problems of a row are reported.
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

#: Checked rows are handed on (to COPY on PostgreSQL) in chunks of this many file rows.
CHUNK_ROWS = 20_000

#: A line's key: (member id, billing month, line no), unique inside the file.
Key = tuple[int, str, int]


def check_rows(
    file: ParsedFile, checks: Checks, flush: Callable[[list[Row]], None], counts: Counts
) -> None:
    """Check every row of ``file``; hand the good ones to ``flush`` in chunks of
    ``CHUNK_ROWS`` file rows; count the rows read into ``counts``."""
    header, problems = file.header, file.problems
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
    ) = (header[name] for name in REQUIRED)
    i_card = header.get("card_no")
    # Local names: this loop runs a million times, and a local is the cheapest look-up.
    member_ids, months, line_nos = checks.member_no, checks.billing_month, checks.line_no
    dates, merchants, users = checks.use_date, checks.merchant, checks.user
    payments, installments = checks.payment_type, checks.installment
    amounts, notes, card_id_of = checks.amount, checks.note, checks.card_no
    # The file line that first had each key.
    first_line_of: dict[Key, int] = {}
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
        try:
            member_id = member_ids[f[i_member]]
            payment = payments[f[i_payment]]
            row: Row = (
                line,
                member_id,
                months[f[i_month]],
                line_nos[f[i_no]],
                None if i_card is None else card_id_of(f[i_card], member_id),
                dates[f[i_date]],
                merchants[f[i_merchant]],
                users[f[i_user]],
                payment,
                installments[f[i_inst], payment],
                amounts[f[i_use]],
                amounts[f[i_billed]],
                notes[f[i_note]],
            )
        except FieldError:
            key = _report_problems(line, f, header, checks, problems)
            # A bad row still holds its key: a later row with the same key is a duplicate.
            if key is not None and first_line_of.setdefault(key, line) != line:
                _report_duplicate(line, f, header, key, first_line_of[key], problems)
            continue
        key = (member_id, row[2], row[3])
        # setdefault: one look-up both finds an earlier line and claims the key for this one.
        if first_line_of.setdefault(key, line) != line:
            _report_duplicate(line, f, header, key, first_line_of[key], problems)
            continue
        rows.append(row)
    advance(pending)
    counts.rows += pending
    if rows:
        flush(rows)


def _report_problems(
    line: int, f: list[str], header: Header, checks: Checks, problems: Problems
) -> Key | None:
    """Check a bad row column by column and report each problem, in the file's column order.
    Return the row's key when its member, month and line number are good, else None."""

    def checked(column: str, check: Callable[[str], Any], *, card: bool = False) -> Any:
        raw = f[header[column]]
        try:
            return check(raw)
        except FieldError as problem:
            problems.add(line, column, raw, str(problem), card=card)
            return None

    member_id = checked("member_no", checks.member_no.__getitem__)
    month = checked("billing_month", checks.billing_month.__getitem__)
    line_no = checked("line_no", checks.line_no.__getitem__)
    checked("use_date", checks.use_date.__getitem__)
    checked("merchant", checks.merchant.__getitem__)
    checked("user", checks.user.__getitem__)
    payment = checked("payment_type", checks.payment_type.__getitem__)
    # The installment's rule depends on the payment type: without a good one it is not judged.
    if payment is not None:
        checked("installment", lambda raw: checks.installment[raw, payment])
    checked("use_amount", checks.amount.__getitem__)
    checked("billed_amount", checks.amount.__getitem__)
    checked("note", checks.note.__getitem__)
    if "card_no" in header:
        checked("card_no", lambda raw: checks.card_no(raw, member_id), card=True)
    if member_id is None or month is None or line_no is None:
        return None
    return (member_id, month, line_no)


def _report_duplicate(
    line: int, f: list[str], header: Header, key: Key, first: int, problems: Problems
) -> None:
    _, month, line_no = key
    problems.add(
        line,
        "line_no",
        f[header["line_no"]],
        f"duplicate: member {half(f[header['member_no']])} {month} line {line_no} is already "
        f"on line {first}",
    )
