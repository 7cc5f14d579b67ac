"""Benchmark of the monthly close on PostgreSQL.

Creates a throwaway database, fills it with ``--members`` members × ``--lines`` usage lines of
billing month 2025-04 (with delivery preferences, fee-exempt, paper-required, IRIS and cancelled
members, and the flyer's campaign), then times in the same run:

* the bare SQL aggregation ``INSERT … SELECT … GROUP BY`` of the same lines, twice: into a plain
  four-column table, and into an empty table of the statements' shape (``LIKE
  statements_statement INCLUDING ALL``: its columns, checks and indexes), the table the close
  fills — the same reading of "bare" as bench/import_usage.py's baseline;
* ``statement_close`` (statements, fee lines, campaign grants, reconciliation, commit), with the
  time of each SQL statement it ran. The usage lines are not copied: they are the statements'
  lines.

and prints seconds, members/s and the ratios close / bare aggregation, then drops the database.

    uv run python bench/close_month.py                       # 100,000 × 10, the reference size
    uv run python bench/close_month.py --members 5000        # while developing
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import psycopg

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=10, help="usage lines per member")
    parser.add_argument("--database", default="meisai_bench_close")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            admin.execute(f'CREATE DATABASE "{name}"')


def timed(label: str, action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    print(f"  {label}: {elapsed:.2f} s", flush=True)
    return elapsed


FILL_SQL = [
    (
        "products",
        """INSERT INTO members_product (code, name, program_excluded)
           VALUES ('STD', '日専連カード', false), ('IRIS', 'IRISカード', true)""",
    ),
    (
        "members",
        """INSERT INTO members_member (member_no, name_kanji, name_kana, birth_date, postal_code,
               address, email, status, cancelled_on, fee_exempt, paper_required, program_excluded,
               created_at, updated_at)
           SELECT 'B' || lpad(i::text, 9, '0'), '会員 ' || i, 'カイイン', date '1950-01-01' + (i %% 20000),
                  '020-0021', '岩手県盛岡市中央通' || (i %% 100), '',
                  CASE WHEN i %% 50 = 0 THEN 'cancelled' ELSE 'active' END,
                  CASE WHEN i %% 50 = 0 THEN date '2025-03-15' END,
                  i %% 20 = 0, i %% 33 = 0, i %% 40 = 0, now(), now()
           FROM generate_series(1, %(members)s) AS i""",
    ),
    (
        "cards",
        """INSERT INTO members_card (member_id, product_id, number_hash, last4, expiry, is_active,
               created_at, updated_at)
           SELECT m.id, p.id, md5(m.member_no) || md5(m.member_no || 'x'), right(m.member_no, 4),
                  '2029-12', true, now(), now()
           FROM members_member m
           JOIN members_product p ON p.code = CASE WHEN m.program_excluded THEN 'IRIS' ELSE 'STD' END""",
    ),
    (
        "delivery preferences",
        # Half the members registered for the web between 2024-11-01 and 2025-04-20 (some inside
        # the campaign window, some after April's cutoff); every seventh went back to paper.
        """INSERT INTO members_deliverypreference (member_id, method, recorded_at, source, reason, actor)
           SELECT m.id, 'web',
                  timestamptz '2024-11-01 00:00+09' + (m.id %% 171) * interval '1 day'
                      + (m.id %% 86400) * interval '1 second',
                  CASE WHEN m.id %% 3 = 0 THEN 'member' ELSE 'registration' END, '', ''
           FROM members_member m WHERE m.id %% 2 = 0 AND NOT m.program_excluded AND NOT m.paper_required
           UNION ALL
           SELECT m.id, 'paper', timestamptz '2025-04-05 10:00+09', 'member', '', ''
           FROM members_member m WHERE m.id %% 14 = 0 AND NOT m.program_excluded AND NOT m.paper_required""",
    ),
    (
        "usage lines",
        """INSERT INTO statements_usageline (member_id, card_id, billing_month, line_no, use_date,
               merchant, user_kind, payment_type, installment, use_amount, billed_amount, note,
               batch_id)
           SELECT c.member_id, c.id, '2025-04', k, date '2025-03-01' + ((k * 7 + c.id) %% 31)::int,
                  '加盟店 ' || k, CASE WHEN k %% 4 = 0 THEN '家族' ELSE '本人' END, '1回', '',
                  500 + ((c.id * 31 + k * 977) %% 20000), 500 + ((c.id * 31 + k * 977) %% 20000),
                  '', NULL
           FROM members_card c CROSS JOIN generate_series(1, %(lines)s) AS k""",
    ),
]


def main() -> int:
    args = parse_args()
    base = args.admin_url.rsplit("/", 1)[0]
    os.environ["DATABASE_URL"] = f"{base}/{args.database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")
    print(
        f"close_month: {args.members:,} members × {args.lines} lines on PostgreSQL "
        f"(database {args.database})",
        flush=True,
    )
    recreate_database(args.admin_url, args.database)
    try:
        return run(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(args.admin_url, args.database, drop_only=True)


def run(args: argparse.Namespace) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from meisai.billing_calendar import BillingMonth
    from meisai.points.services import campaign_load_defaults
    from meisai.statements.close import statement_close

    print("setup:", flush=True)
    timed("migrate", lambda: call_command("migrate", verbosity=0))
    params = {"members": args.members, "lines": args.lines}
    for label, sql in FILL_SQL:
        timed(label, lambda sql=sql: connection.cursor().execute(sql, params))
    campaign_load_defaults(actor="bench")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT count(*), sum(billed_amount) FROM statements_usageline")
        lines, total = cursor.fetchone()
        cursor.execute(
            "CREATE TABLE bench_aggregate (member_id bigint, billing_month varchar(7),"
            " usage_total bigint, line_count integer)"
        )
        # The statements' shape: their columns, checks and indexes, as the close writes them.
        cursor.execute("CREATE TABLE bench_statements (LIKE statements_statement INCLUDING ALL)")
    print(f"  {lines:,} usage lines, {total:,} yen", flush=True)

    print("run:", flush=True)

    def bare() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO bench_aggregate (member_id, billing_month, usage_total, line_count)
                   SELECT member_id, billing_month, SUM(billed_amount), COUNT(*)
                   FROM statements_usageline WHERE billing_month = '2025-04'
                   GROUP BY member_id, billing_month"""
            )

    def bare_shaped() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO bench_statements (member_id, billing_month, delivery, usage_total,
                       fee_total, total, line_count, points_granted, debit_date, confirmed_at,
                       published_at, pdf_sha256)
                   SELECT member_id, billing_month, 'web', SUM(billed_amount), 0,
                          SUM(billed_amount), COUNT(*), 0, date '2025-04-28', now(), NULL, ''
                   FROM statements_usageline WHERE billing_month = '2025-04'
                   GROUP BY member_id, billing_month"""
            )

    # Warm the process as a worker that has run before: the holidays library's first call loads
    # its country data (about 0.24 s, once per process), which is not the close's work.
    from meisai import billing_calendar

    billing_calendar.debit_date(BillingMonth(2025, 4))

    bare_seconds = timed("bare aggregation INSERT … SELECT … GROUP BY, plain table", bare)
    shaped_seconds = timed(
        "bare aggregation INSERT … SELECT … GROUP BY, table of the statements' shape", bare_shaped
    )

    statements: dict[str, float] = defaultdict(float)

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split())[:60]
            statements[key] += time.perf_counter() - started

    result_holder: list[Any] = []

    commit_seconds: list[float] = []
    plain_commit = connection._commit

    def timed_commit() -> None:
        started = time.perf_counter()
        plain_commit()
        commit_seconds.append(time.perf_counter() - started)

    def close() -> None:
        connection._commit = timed_commit  # type: ignore[method-assign]
        try:
            with connection.execute_wrapper(record):
                result_holder.append(statement_close(month=BillingMonth(2025, 4), actor="bench"))
        finally:
            connection._commit = plain_commit  # type: ignore[method-assign]

    close_seconds = timed("statement_close (one transaction, commit included)", close)
    result = result_holder[0]
    print("  statements of the close, slowest first:")
    for key, seconds in sorted(statements.items(), key=lambda item: -item[1])[:8]:
        print(f"    {seconds:6.2f} s  {key}")
    commit = sum(commit_seconds)
    print(f"    {commit:6.2f} s  COMMIT")
    rest = close_seconds - sum(statements.values()) - commit
    print(f"    {rest:6.2f} s  Python")
    for line in result.report_lines():
        print(f"  {line}")

    members = result.statements
    print("result:")
    for label, seconds in (
        ("bare aggregation, plain table", bare_seconds),
        ("bare aggregation, statements' shape", shaped_seconds),
        ("statement_close", close_seconds),
    ):
        print(f"  {label:36}: {seconds:7.2f} s  {members / seconds:10,.0f} members/s")
    print(
        f"  ratio close / bare aggregation into the statements' shape:"
        f" {close_seconds / shaped_seconds:.2f}× (goal ≤ 2×)"
    )
    print(
        f"  ratio close / bare aggregation into a plain table: {close_seconds / bare_seconds:.2f}×"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
