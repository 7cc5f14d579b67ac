"""balances: ``member_no, billing_month, revolving_balance, installment_balance`` — what remains
to pay after a billing month (SPEC 4.3).

The core system's figures of the リボ and 分割 balances left after the month's payment, printed
on that month's statement PDF. One row per member and billing month. Like usage lines, a month's
balances close with the month: a row for a month whose close is confirmed is an error, so the
PDF first issued keeps its figures. Before the close a later file with other figures for the
same member and month corrects them (counted as updated); the same figures again change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from meisai.imports.columns import integer_range
from meisai.imports.formats import Counts, ParsedFile, chunked
from meisai.imports.formats.members import parse_member_no
from meisai.imports.formats.usage.checks import check_billing_month
from meisai.imports.models import ImportBatch
from meisai.imports.reading import FieldError, ImportRefused, parse_int
from meisai.members.models import Member
from meisai.statements.models import MonthClose, StatementBalance, UsageLine

REQUIRED = ("member_no", "billing_month", "revolving_balance", "installment_balance")
OPTIONAL: tuple[str, ...] = ()

_REVOLVING = integer_range(StatementBalance, "revolving_balance")
_INSTALLMENT = integer_range(StatementBalance, "installment_balance")


@dataclass
class _Row:
    line: int
    member_no: str
    billing_month: str
    revolving_balance: int
    installment_balance: int


def _balance(text: str, *, bounds: tuple[int, int]) -> int:
    value = parse_int(text, bounds=bounds, what="whole yen")
    if value < 0:
        raise FieldError("negative: a remaining balance is never below zero")
    return value


def load(*, file: ParsedFile, batch: ImportBatch) -> Counts:
    header, problems = file.header, file.problems
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # As the usage import does: the close holds SHARE on the usage table while it
            # confirms a month, so waiting here before reading which months are confirmed means
            # no balance slips into a month confirmed meanwhile.
            cursor.execute(f"LOCK TABLE {UsageLine._meta.db_table} IN ROW EXCLUSIVE MODE")
    confirmed = {
        str(month)
        for month in MonthClose.objects.filter(status=MonthClose.Status.CONFIRMED).values_list(
            "billing_month", flat=True
        )
    }
    members = dict(Member.objects.values_list("member_no", "id"))
    parsers: dict[str, Callable[[str], object]] = {
        "member_no": parse_member_no,
        "billing_month": lambda t: check_billing_month(t, confirmed=confirmed),
        "revolving_balance": lambda t: _balance(t, bounds=_REVOLVING),
        "installment_balance": lambda t: _balance(t, bounds=_INSTALLMENT),
    }
    seen: dict[tuple[str, str], int] = {}
    rows: list[_Row] = []
    counts = Counts()
    for line, fields in file.rows:
        counts.rows += 1
        raw = {column: fields[header[column]] for column in REQUIRED}
        values: dict[str, object] = {}
        for column, parse in parsers.items():
            try:
                values[column] = parse(raw[column])
            except FieldError as error:
                problems.add(line, column, raw[column], str(error))
        if len(values) != len(parsers):
            continue
        row = _Row(line=line, **values)  # type: ignore[arg-type]
        if row.member_no not in members:
            problems.add(line, "member_no", raw["member_no"], "unknown member number")
            continue
        key = (row.member_no, row.billing_month)
        if key in seen:
            problems.add(
                line,
                "billing_month",
                raw["billing_month"],
                f"duplicate: this member's balances of this month are already on line {seen[key]}",
            )
            continue
        seen[key] = line
        rows.append(row)
    file.advance(counts.rows)
    if problems:
        raise ImportRefused(problems)

    current: dict[tuple[int, str], StatementBalance] = {}
    for part in chunked(sorted({members[r.member_no] for r in rows}), 2000):
        current.update(
            ((b.member_id, str(b.billing_month)), b)
            for b in StatementBalance.objects.filter(member_id__in=part)
        )
    new: list[StatementBalance] = []
    changed: list[StatementBalance] = []
    for row in rows:
        member_id = members[row.member_no]
        found = current.get((member_id, row.billing_month))
        figures = (row.revolving_balance, row.installment_balance)
        if found is None:
            new.append(
                StatementBalance(
                    member_id=member_id,
                    billing_month=row.billing_month,
                    revolving_balance=row.revolving_balance,
                    installment_balance=row.installment_balance,
                )
            )
        elif (found.revolving_balance, found.installment_balance) != figures:
            found.revolving_balance, found.installment_balance = figures
            changed.append(found)
    StatementBalance.objects.bulk_create(new, batch_size=1000)
    StatementBalance.objects.bulk_update(
        changed, ["revolving_balance", "installment_balance"], batch_size=500
    )
    counts.inserted, counts.updated = len(new), len(changed)
    return counts
