"""points: ``member_no, as_of, balance, expiring_points, expires_on`` — point balances.

A balance is the core system's snapshot of one day: one per member and ``as_of``. A later file
with a different figure for the same day corrects it (the core system owns the balance).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from meisai.imports.columns import integer_range
from meisai.imports.formats import Counts, ParsedFile, chunked
from meisai.imports.formats.members import parse_member_no
from meisai.imports.models import ImportBatch
from meisai.imports.reading import DateParser, FieldError, ImportRefused, half, parse_int
from meisai.members.models import Member
from meisai.points.models import PointBalance

REQUIRED = ("member_no", "as_of", "balance", "expiring_points", "expires_on")
OPTIONAL: tuple[str, ...] = ()


@dataclass
class _Row:
    line: int
    member_no: str
    as_of: dt.date
    balance: int
    expiring_points: int
    expires_on: dt.date | None


_BALANCE = integer_range(PointBalance, "balance")
_EXPIRING = integer_range(PointBalance, "expiring_points")


def _points(text: str, *, bounds: tuple[int, int]) -> int:
    value = parse_int(text, bounds=bounds, what="a whole number of points")
    if value < 0:
        raise FieldError("negative: points are never below zero")
    return value


def load(*, file: ParsedFile, batch: ImportBatch) -> Counts:
    header, problems = file.header, file.problems
    date = DateParser()
    members = dict(Member.objects.values_list("member_no", "id"))
    seen: dict[tuple[str, dt.date], int] = {}
    rows: list[_Row] = []
    counts = Counts()
    for line, fields in file.rows:
        counts.rows += 1
        raw = {column: fields[header[column]] for column in REQUIRED}
        values: dict[str, object] = {}
        parsers: dict[str, Callable[[str], object]] = {
            "member_no": parse_member_no,
            "as_of": date,
            "balance": lambda t: _points(t, bounds=_BALANCE),
            "expiring_points": lambda t: _points(t, bounds=_EXPIRING),
            "expires_on": lambda t: date(t) if half(t) else None,
        }
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
        if row.expiring_points > row.balance:
            problems.add(line, "expiring_points", raw["expiring_points"], "more than the balance")
            continue
        if row.expiring_points and row.expires_on is None:
            problems.add(line, "expires_on", raw["expires_on"], "required when points are expiring")
            continue
        key = (row.member_no, row.as_of)
        if key in seen:
            problems.add(
                line,
                "as_of",
                raw["as_of"],
                f"duplicate: this member's balance on this day is already on line {seen[key]}",
            )
            continue
        seen[key] = line
        rows.append(row)
    file.advance(counts.rows)
    if problems:
        raise ImportRefused(problems)

    current: dict[tuple[int, dt.date], PointBalance] = {}
    for part in chunked([members[r.member_no] for r in rows], 2000):
        current.update(
            ((b.member_id, b.as_of), b) for b in PointBalance.objects.filter(member_id__in=part)
        )
    new: list[PointBalance] = []
    changed: list[PointBalance] = []
    for row in rows:
        member_id = members[row.member_no]
        found = current.get((member_id, row.as_of))
        figures = (row.balance, row.expiring_points, row.expires_on)
        if found is None:
            new.append(
                PointBalance(
                    member_id=member_id,
                    as_of=row.as_of,
                    balance=row.balance,
                    expiring_points=row.expiring_points,
                    expires_on=row.expires_on,
                )
            )
        elif (found.balance, found.expiring_points, found.expires_on) != figures:
            found.balance, found.expiring_points, found.expires_on = figures
            changed.append(found)
    PointBalance.objects.bulk_create(new, batch_size=1000)
    PointBalance.objects.bulk_update(
        changed, ["balance", "expiring_points", "expires_on"], batch_size=500
    )
    counts.inserted, counts.updated = len(new), len(changed)
    return counts
