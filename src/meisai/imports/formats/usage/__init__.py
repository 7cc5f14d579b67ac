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

:func:`load` runs the parts of this package in turn:

* ``table.py``: the usage table's columns, from the ``UsageLine`` model;
* ``checks.py``: the rule of each column, one ``check_<column>`` function each;
* ``rows.py``: the row loop, every row through every check (the hot loop);
* ``writing.py``: COPY on PostgreSQL, ``executemany`` elsewhere, and the checks against stored
  lines and statements. Either way in the caller's transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from django.db import connection

from meisai.imports.formats import Counts, ParsedFile
from meisai.imports.formats.usage.checks import Checks
from meisai.imports.formats.usage.rows import OPTIONAL, REQUIRED, check_rows
from meisai.imports.formats.usage.table import TABLE, Row
from meisai.imports.formats.usage.writing import (
    CopyStream,
    months_holding_lines,
    refuse_confirmed_statements,
    write_portable,
    write_postgresql,
)
from meisai.imports.models import ImportBatch
from meisai.imports.reading import ImportRefused
from meisai.members.models import Card, Member
from meisai.statements.models import MonthClose, UsageLine

__all__ = ["OPTIONAL", "REQUIRED", "load"]


def load(*, file: ParsedFile, batch: ImportBatch) -> Counts:
    problems = file.problems
    postgresql = connection.vendor == "postgresql"
    if postgresql:
        with connection.cursor() as cursor:
            # The close holds SHARE on the usage table while it confirms a month: waiting for it
            # here (before reading which months are confirmed) means a line can never slip into
            # a month confirmed meanwhile; a close started later waits for this import instead.
            cursor.execute(f"LOCK TABLE {TABLE} IN ROW EXCLUSIVE MODE")
    members: dict[str, int] = dict(Member.objects.values_list("member_no", "id"))
    checks = Checks.bound_to(
        members=members,
        confirmed=_confirmed_months(),
        card_owner=_card_owners() if "card_no" in file.header else {},
    )
    counts = Counts()
    with contextlib.ExitStack() as stack:
        kept: list[Row] = []
        flush: Callable[[list[Row]], None] = kept.extend
        if postgresql:
            stream = stack.enter_context(CopyStream(batch))
            flush = stream.write
        check_rows(file, checks, flush, counts)

    months = checks.months()
    if postgresql:
        # The stream asked each month, before writing its first chunk, whether it held lines;
        # a month first named after it began staging is asked now, before the staged rows move
        # into the usage table.
        held = sorted(stream.held | set(months_holding_lines(set(months) - stream.vetted)))
        counts.inserted = stream.direct_rows
        if stream.staged:
            counts.inserted += write_postgresql(months, batch, problems)
    else:
        held = months_holding_lines(months)
        refuse_confirmed_statements(kept, months, members, problems)
        counts.inserted = write_portable(kept, months, batch, problems)
    if not file.append:
        _refuse_lines_added_to_an_earlier_file(held, batch, file)
    if problems:
        raise ImportRefused(problems)
    return counts


def _refuse_lines_added_to_an_earlier_file(
    held: list[str], batch: ImportBatch, file: ParsedFile
) -> None:
    """A month's lines come in one file (SPEC 4.3): a second file that adds lines to a month an
    earlier file already filled (``held``: the months that held lines before this file) is
    refused unless the operator says so (``--append``, audited with the import). Lines it only
    repeats add nothing and need nothing; the same file again is a no-op before any row is read.
    Asked after writing (the transaction undoes the rows of a refused file), so both databases
    answer alike whatever else the rows got wrong.

    Only the held months are read again: a file of new months, the usual one, costs no query
    here (it used to read back every line it had written, to learn their months)."""
    added = [
        month
        for month in held
        if UsageLine.objects.filter(batch=batch, billing_month=month).exists()
    ]
    if not added:
        return
    earlier = (
        UsageLine.objects.filter(billing_month__in=added)
        .exclude(batch=batch)
        .values_list("billing_month", "batch__file_name")
        .distinct()
        .order_by("billing_month", "batch__file_name")
    )
    for month, name in earlier[:12]:
        file.problems.add_file(
            f"billing month {month} already holds the lines of an earlier file ({name}): "
            "adding lines to it needs --append (a correction of a confirmed month goes into a "
            "later month)"
        )


def _confirmed_months() -> set[str]:
    # str(): the model gives a BillingMonth; the importer speaks the column's text.
    return {
        str(month)
        for month in MonthClose.objects.filter(status=MonthClose.Status.CONFIRMED).values_list(
            "billing_month", flat=True
        )
    }


def _card_owners() -> dict[str, tuple[int, int]]:
    """Each stored card's hash → (card id, member id)."""
    return {
        number_hash: (card_id, member_id)
        for number_hash, card_id, member_id in Card.objects.values_list(
            "number_hash", "id", "member_id"
        )
    }
