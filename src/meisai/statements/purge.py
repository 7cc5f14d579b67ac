# ruff: noqa: S608 — the SQL is built only from the models' table names; months are parameters.
"""``meisai purge``: the billing months past their retention leave the database, archived first.

The rule, in this one place: a month may go only when it is older than both

* the months members see (``billing_calendar.visible_months``, 13 by default), and
* the retention, the latest ``MEISAI_RETENTION_MONTHS`` billing months (120 by default: the
  ten years of the Companies Act for accounting books and important business materials,
  config.py and docs/deployment.md),

both counted back from the latest billing month whose confirmation day has come. ``--before
YYYY-MM`` names the first month kept; every month before it that has usage lines, statements or
balances goes.

A dry run, the default, counts and prints what would go and changes nothing. ``execute``, in one
transaction as the database owner (the application role can neither detach nor drop):

1. locks the months' rows against writers (SHARE) and counts them;
2. writes them to one gzip-compressed JSON-lines archive in ``MEISAI_ARCHIVE_DIR``, named after
   the months (``meisai-2014-01_2014-03.jsonl.gz``). It opens with a header line (the format,
   the months, each table's columns and row count), then holds one line per row
   (``{"table": …, "row": […]}``). The bytes do not depend on the time, so the same months give
   the same file. The file is flushed to disk, then read back: its SHA-256 must equal the one
   computed while writing, and it must decompress to exactly the rows counted. Only then is the
   digest written beside it (``….sha256``, in ``sha256sum -c`` form);
3. drops the rows. On PostgreSQL each month's partitions are detached and dropped
   (``meisai.statements.partitions``). A month still in the default partition is refused
   instead, because its rows could only go by a DELETE past the guards. On SQLite the rows are
   deleted; it has no deletion guard. The month's ``StatementBalance`` rows go too: they print
   on that month's statement only;
4. writes the audit row (``statements_purge``: months, row counts, archive, SHA-256) and commits.

Anything that fails before the commit drops nothing. ``MonthClose`` rows and point entries stay:
the close record keeps a purged month confirmed, so no import can fill it again, and the points
balance is the sum of every entry.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import connection, transaction

from meisai import billing_calendar as cal
from meisai.audit.services import audit_record
from meisai.billing_calendar import BillingMonth
from meisai.core.database_roles import owner_connection
from meisai.statements import partitions
from meisai.statements.models import Statement, StatementBalance, UsageLine

ARCHIVE_FORMAT = "meisai-archive"
ARCHIVE_VERSION = 1
#: How long the purge waits for a lock before it gives up (and drops nothing): the DETACH needs
#: the table to itself for a moment, and queueing behind a long reader would stall every page
#: queued behind the purge.
LOCK_TIMEOUT = "10s"


class PurgeRefused(ValueError):
    """The purge cannot run; the message says why, in Japanese."""


@dataclass(frozen=True)
class MonthRows:
    month: str
    usage_lines: int
    statements: int
    balances: int


@dataclass(frozen=True)
class PurgeResult:
    before: BillingMonth
    months: tuple[MonthRows, ...]
    executed: bool
    archive: Path | None = None
    sha256: str = ""

    def report_lines(self) -> list[str]:
        if not self.months:
            return [f"{self.before.label}より前に削除できる月はありません。"]
        head = (
            f"{self.before.label}より前の{len(self.months)}か月を保存し、削除しました。"
            if self.executed
            else f"ドライラン(書き込みなし): {self.before.label}より前の"
            f"{len(self.months)}か月を保存して削除します。"
        )
        lines = [head]
        for rows in self.months:
            lines.append(
                f"  {BillingMonth.parse(rows.month).label}: ご利用明細 {rows.usage_lines:,}行、"
                f"明細書 {rows.statements:,}件、残高 {rows.balances:,}件"
            )
        if self.archive is not None:
            lines.append(f"  保存先: {self.archive}")
            lines.append(f"  SHA-256: {self.sha256}")
        else:
            lines.append("  実行するには --execute を付けてください。")
        return lines


def _tables() -> dict[str, Any]:
    return {
        UsageLine._meta.db_table: UsageLine,
        Statement._meta.db_table: Statement,
        StatementBalance._meta.db_table: StatementBalance,
    }


def first_month_kept() -> BillingMonth:
    """The oldest month the purge must keep: the older of the members' window and the
    retention, counted back from the latest billing month."""
    latest = cal.latest_billing_month()
    retention_start = latest.plus(-(int(settings.MEISAI_RETENTION_MONTHS) - 1))
    visible = cal.visible_months(latest)
    return min([retention_start, *visible])


def _refuse_inside_kept(before: BillingMonth) -> None:
    latest = cal.latest_billing_month()
    visible = cal.visible_months(latest)
    if visible and before > min(visible):
        raise PurgeRefused(
            f"{min(visible).label}は会員が見られる明細({min(visible).label}～{latest.label})の"
            f"月のため、削除できません(--before には{min(visible)}以前を指定してください)。"
        )
    retention = int(settings.MEISAI_RETENTION_MONTHS)
    retention_start = latest.plus(-(retention - 1))
    if before > retention_start:
        raise PurgeRefused(
            f"{before.previous().label}は保存期間(MEISAI_RETENTION_MONTHS={retention}か月:"
            f"{retention_start.label}～{latest.label})内のため、削除できません"
            f"(--before には{retention_start}以前を指定してください)。"
        )


def _count(before: BillingMonth) -> tuple[MonthRows, ...]:
    counts: dict[str, dict[str, int]] = {}
    with connection.cursor() as cursor:
        for table in _tables():
            cursor.execute(
                f"SELECT billing_month, COUNT(*) FROM {table} WHERE billing_month < %s"
                " GROUP BY billing_month",
                [str(before)],
            )
            for month, rows in cursor.fetchall():
                counts.setdefault(str(month), {})[table] = int(rows)
    usage, statement, balance = _tables()
    return tuple(
        MonthRows(
            month=month,
            usage_lines=found.get(usage, 0),
            statements=found.get(statement, 0),
            balances=found.get(balance, 0),
        )
        for month, found in sorted(counts.items())
    )


def archive_name(months: list[str]) -> str:
    span = months[0] if len(months) == 1 else f"{months[0]}_{months[-1]}"
    return f"meisai-{span}.jsonl.gz"


def statements_purge(*, before: BillingMonth, actor: str, execute: bool = False) -> PurgeResult:
    """Archive and drop every billing month before ``before`` (see the module's docstring).
    Raises :class:`PurgeRefused` for a month members may still see or still retained."""
    _refuse_inside_kept(before)
    if not execute:
        return PurgeResult(before=before, months=_count(before), executed=False)
    with owner_connection(), transaction.atomic():
        _lock(before)
        months = _count(before)
        if not months:
            return PurgeResult(before=before, months=(), executed=False)
        names = [rows.month for rows in months]
        if connection.vendor == "postgresql":
            _refuse_months_in_default_partitions(names)
        archive, digest = _archive_write(months)
        _drop(names)
        audit_record(
            actor=actor,
            action="statements_purge",
            detail={
                "before": str(before),
                "months": names,
                "usage_lines": sum(m.usage_lines for m in months),
                "statements": sum(m.statements for m in months),
                "balances": sum(m.balances for m in months),
                "archive": str(archive),
                "sha256": digest,
            },
        )
    return PurgeResult(before=before, months=months, executed=True, archive=archive, sha256=digest)


def _lock(before: BillingMonth) -> None:
    """No writer may change the months' rows between the archive and the drop."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            return  # SQLite: the transaction is IMMEDIATE (settings), writers wait for it
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        old = [
            partition
            for month, parts in partitions.partitioned_months().items()
            if month < str(before)
            for partition in parts.values()
        ]
        quote = connection.ops.quote_name
        tables = [
            *(quote(p) for p in sorted(old)),
            *(quote(partitions.default_partition(t)) for t in partitions.TABLES),
            StatementBalance._meta.db_table,
        ]
        cursor.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE MODE")


def _refuse_months_in_default_partitions(months: list[str]) -> None:
    held = []
    with connection.cursor() as cursor:
        for table in partitions.TABLES:
            cursor.execute(
                f"SELECT DISTINCT billing_month FROM {partitions.default_partition(table)}"
                " WHERE billing_month = ANY(%s)",
                [months],
            )
            held += [str(month) for (month,) in cursor.fetchall()]
    if held:
        labels = "、".join(BillingMonth.parse(m).label for m in sorted(set(held)))
        raise PurgeRefused(
            f"{labels}の行が月別のパーティションではなく既定のパーティションにあるため、"
            "削除できません(月別のパーティションに移してから実行してください)。"
        )


def _drop(months: list[str]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            found = partitions.partitioned_months()
            for month in months:
                for table, partition in sorted(found.get(month, {}).items()):
                    partitions.partition_detach_and_drop(cursor, table, partition)
            cursor.execute(
                f"DELETE FROM {StatementBalance._meta.db_table} WHERE billing_month = ANY(%s)",
                [months],
            )
            return
        marks = ", ".join(["%s"] * len(months))
        for table in _tables():
            cursor.execute(f"DELETE FROM {table} WHERE billing_month IN ({marks})", months)


# --- the archive --------------------------------------------------------------------------------


class _Hashing:
    """A binary file that hashes every byte written to or read from it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.raw.write(data)

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data

    def flush(self) -> None:
        self.raw.flush()


def _json_value(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _archive_write(months: tuple[MonthRows, ...]) -> tuple[Path, str]:
    """Write, flush, re-read and verify the archive; return its path and SHA-256."""
    names = [rows.month for rows in months]
    directory = Path(settings.MEISAI_ARCHIVE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / archive_name(names)
    partial = final.with_name(final.name + ".partial")
    totals = {
        UsageLine._meta.db_table: sum(m.usage_lines for m in months),
        Statement._meta.db_table: sum(m.statements for m in months),
        StatementBalance._meta.db_table: sum(m.balances for m in months),
    }
    columns = {
        table: [field.column for field in model._meta.concrete_fields]
        for table, model in _tables().items()
    }
    header = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "months": names,
        "tables": {t: {"columns": columns[t], "rows": totals[t]} for t in columns},
    }
    with open(partial, "wb") as raw:
        hashing = _Hashing(raw)
        # mtime=0 and no file name in the gzip header: the same rows give the same bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0) as packed:  # type: ignore[arg-type]
            packed.write(json.dumps(header, ensure_ascii=False).encode() + b"\n")
            for table, names_of_columns in columns.items():
                _archive_table(packed, table, names_of_columns, names)
        raw.flush()
        os.fsync(raw.fileno())
    digest = hashing.digest.hexdigest()
    _archive_verify(partial, digest, 1 + sum(totals.values()))
    os.replace(partial, final)
    sidecar = final.with_name(final.name + ".sha256")
    with open(sidecar, "w", encoding="ascii") as handle:
        handle.write(f"{digest}  {final.name}\n")
        handle.flush()
        os.fsync(handle.fileno())
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
    return final, digest


def _archive_table(packed: Any, table: str, columns: list[str], months: list[str]) -> None:
    listed = ", ".join(connection.ops.quote_name(c) for c in columns)
    marks = ", ".join(["%s"] * len(months))
    prefix = b'{"table": "' + table.encode() + b'", "row": '
    # A server-side cursor on PostgreSQL: a month of ten million lines never sits in memory.
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT {listed} FROM {table} WHERE billing_month IN ({marks}) ORDER BY id", months
        )
        while rows := cursor.fetchmany(10_000):
            packed.write(
                b"".join(
                    prefix
                    + json.dumps(list(row), ensure_ascii=False, default=_json_value).encode()
                    + b"}\n"
                    for row in rows
                )
            )


def _archive_verify(path: Path, digest: str, lines: int) -> None:
    """Read the archive back from disk: the same SHA-256, and every line there."""
    with open(path, "rb") as raw:
        hashing = _Hashing(raw)
        with gzip.GzipFile(fileobj=hashing, mode="rb") as packed:  # type: ignore[arg-type]
            found = sum(block.count(b"\n") for block in iter(lambda: packed.read(1 << 20), b""))
        hashing.read()  # anything after the gzip stream counts in the digest too
    if hashing.digest.hexdigest() != digest or found != lines:
        raise PurgeRefused(
            f"保存ファイル {path} を読み直したところ内容が一致しません"
            f"(SHA-256 {hashing.digest.hexdigest()} / 期待 {digest}、{found:,}行 / 期待 {lines:,}行)。"
            "何も削除していません。"
        )
