"""Benchmark: months accumulate without slowing anything (PostgreSQL, partitioned by month).

Runs the same month twice, on a throwaway database each time (``--database``): once with 1
billing month of history stored before it, once with ``--history`` (default 25). Both databases
hold ``--members`` members (default 200,000) with ``--lines`` usage lines each per month (default
4: a modest size, so that 25 months fit in a few minutes and a few GB). Each history month has its
statements and a confirmed ``MonthClose``, filled by set-based SQL into the month's partitions
(``meisai.statements.partitions``). Then, in the same process and the same order, it times:

1. ``statement_close`` of the latest billing month (one transaction, commit included);
2. the statement page, first view, in-process through the whole stack with a logged-in session
   (bench/first_view.py's way), median over ``--sample`` different members, after publishing;
3. ``meisai import usage`` of the next month's file (every member × ``--lines``), from a CSV
   written beforehand.

It prints each figure for both histories and the ratio, long history / short; the goal is that
every ratio stays within 15 % (0.85–1.15).

    flock /tmp/meisai-heavy.lock uv run python bench/month_history.py     # the reference run
    uv run python bench/month_history.py --members 5000 --sample 100      # while developing
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

REDIS_URL = "redis://127.0.0.1:6379/13"
GOAL = 0.15

#: Set-based history: the usage lines and statements of one earlier month for every member.
HISTORY_SQL = [
    """INSERT INTO statements_usageline (member_id, card_id, billing_month, line_no, use_date,
           merchant, user_kind, payment_type, installment, use_amount, billed_amount, note)
       SELECT c.member_id, c.id, %(month)s, k, %(first_use)s::date + (k %% 28),
              '加盟店 ' || k, '本人', '1回', '', 500 + (c.id * 31 + k * 977) %% 20000,
              500 + (c.id * 31 + k * 977) %% 20000, ''
       FROM members_card c CROSS JOIN generate_series(1, %(lines)s) AS k""",
    """INSERT INTO statements_statement (member_id, billing_month, delivery, usage_total,
           fee_total, total, line_count, points_granted, debit_date, confirmed_at, published_at,
           pdf_sha256, holder_name)
       SELECT u.member_id, %(month)s, 'web', SUM(u.billed_amount), 0, SUM(u.billed_amount),
              COUNT(*), 0, %(debit)s, %(confirmed)s, %(confirmed)s, '', '盛岡 太郎'
       FROM statements_usageline u WHERE u.billing_month = %(month)s GROUP BY u.member_id""",
    """INSERT INTO statements_monthclose (billing_month, status, started_at, confirmed_at,
           closed_by, statements, web_statements, paper_statements, fees, usage_total, fee_total,
           statement_total, points_granted, published_at, published_by, error)
       VALUES (%(month)s, 'confirmed', %(confirmed)s, %(confirmed)s, 'bench', 0, 0, 0, 0, 0, 0,
               0, 0, %(confirmed)s, 'bench', '')""",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--lines", type=int, default=4, help="usage lines per member and month")
    parser.add_argument("--history", type=int, default=25, help="months of the long history")
    parser.add_argument("--sample", type=int, default=500, help="members whose page is timed")
    parser.add_argument("--database", default="meisai_bench_history")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--result", default="", help=argparse.SUPPRESS)
    return parser.parse_args()


def _step(label: str, work):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    print(f"    {label}: {seconds:.2f} s", flush=True)
    return seconds


def measure(args: argparse.Namespace) -> dict[str, float]:
    """In the child: one database with ``args.child`` months of history."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from meisai import billing_calendar as cal
    from meisai.imports.formats.usage.rows import REQUIRED
    from meisai.statements.close import statement_close
    from meisai.statements.partitions import month_partitions_ensure
    from statement_page import fill, fill_population

    call_command("migrate", verbosity=0)
    month, keys = fill(args.sample + 1, args.lines)
    fill_population(args.members - args.sample - 1, args.lines)
    latest = cal.latest_billing_month()
    earlier = [latest.plus(-i) for i in range(args.child, 0, -1)]
    month_partitions_ensure([str(m) for m in earlier])

    def history() -> None:
        for m in earlier:
            first_use, _ = cal.usage_period(m)
            params = {
                "month": str(m),
                "lines": args.lines,
                "first_use": first_use,
                "debit": cal.debit_date(m),
                "confirmed": dt.datetime.combine(cal.confirmation_date(m), dt.time(9), dt.UTC),
            }
            with connection.cursor() as cursor:
                for sql in HISTORY_SQL:
                    cursor.execute(sql, params)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            # Filling 25 months writes gigabytes of WAL: the checkpoint it triggers would land
            # inside the measurements of the long history only.
            cursor.execute("CHECKPOINT")

    _step(f"history: {args.child} months", history)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM statements_usageline),"
            " (SELECT count(*) FROM statements_statement),"
            " pg_size_pretty(pg_database_size(current_database()))"
        )
        lines, statements, size = cursor.fetchone()
    print(f"    database: {lines:,} usage lines, {statements:,} statements, {size}", flush=True)

    figures: dict[str, float] = {}
    cal.debit_date(latest)  # the holidays library loads once per process, not the close's work
    figures["close s"] = _step(
        "statement_close", lambda: statement_close(month=latest, actor="bench")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE statements_statement SET published_at = now()"
            " WHERE billing_month = %s AND published_at IS NULL",
            [str(latest)],
        )
        cursor.execute("ANALYZE statements_statement")

    client = Client(HTTP_HOST="127.0.0.1")
    page = f"/statements/{month}/"
    times = []
    for index, key in enumerate(keys):
        client.cookies.clear()
        client.cookies[settings.SESSION_COOKIE_NAME] = key
        begun = time.perf_counter_ns()
        response = client.get(page)
        if response.status_code != 200:
            raise SystemExit(f"{page} answered {response.status_code}")
        if index:  # the first member warms the process
            times.append((time.perf_counter_ns() - begun) / 1e6)
    figures["page first view ms"] = statistics.median(times)
    print(f"    page first view: median {figures['page first view ms']:.2f} ms", flush=True)

    following = latest.next()
    first_use, _ = cal.usage_period(following)
    with tempfile.TemporaryDirectory(prefix="meisai-history-") as folder:
        path = Path(folder) / f"usage_{following}.csv"
        with connection.cursor() as cursor:
            cursor.execute("SELECT member_no FROM members_member ORDER BY id")
            numbers = [row[0] for row in cursor.fetchall()]
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(REQUIRED)  # the usage file's columns, in their order
            for number in numbers:
                for k in range(1, args.lines + 1):
                    amount = 500 + (k * 977) % 20000
                    day = first_use + dt.timedelta(days=k % 28)
                    writer.writerow(
                        [
                            number,
                            following,
                            k,
                            day,
                            f"加盟店 {k}",
                            "本人",
                            "1回",
                            "",
                            amount,
                            amount,
                            "",
                        ]
                    )
        spent: dict[str, float] = defaultdict(float)

        def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                spent[" ".join(sql.split())[:70]] += time.perf_counter() - started

        def run_import() -> None:
            with connection.execute_wrapper(record):
                call_command(
                    "import",
                    "usage",
                    str(path),
                    "--actor",
                    "bench",
                    verbosity=0,
                    stdout=io.StringIO(),
                )

        figures["usage import s"] = _step(
            f"meisai import usage ({len(numbers) * args.lines:,} lines)", run_import
        )
        for key, seconds in sorted(spent.items(), key=lambda item: -item[1])[:5]:
            print(f"      {seconds:6.2f} s  {key}", flush=True)
    return figures


def main() -> None:
    args = parse_args()
    if args.child:
        Path(args.result).write_text(json.dumps(measure(args)))
        return
    import redis

    from statement_page import recreate_database

    load = os.getloadavg()
    print(
        f"month_history: {args.members:,} members × {args.lines} lines a month, history 1 and "
        f"{args.history} months, page over {args.sample} members (load {load[0]:.1f})",
        flush=True,
    )
    results: dict[int, dict[str, float]] = {}
    for history in (1, args.history):
        print(f"  {history} month(s) of history:", flush=True)
        redis.Redis.from_url(REDIS_URL).flushdb()
        recreate_database(args.database)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "meisai.settings",
            "MEISAI_LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.database}",
            "REDIS_URL": REDIS_URL,
        }
        env.pop("MEISAI_MIGRATE_DATABASE_URL", None)
        with tempfile.NamedTemporaryFile(suffix=".json") as result:
            try:
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        f"--child={history}",
                        f"--result={result.name}",
                        f"--members={args.members}",
                        f"--lines={args.lines}",
                        f"--sample={args.sample}",
                    ],
                    env=env,
                    check=True,
                )
            finally:
                recreate_database(args.database, drop_only=True)
                redis.Redis.from_url(REDIS_URL).flushdb()
            results[history] = json.loads(Path(result.name).read_text())
    short, long = results[1], results[args.history]
    print(f"result (load {os.getloadavg()[0]:.1f}):")
    print(f"  {'':22} {'1 month':>10} {f'{args.history} months':>10} {'ratio':>7}")
    verdict = True
    for label in short:
        ratio = long[label] / short[label]
        verdict &= abs(ratio - 1) <= GOAL
        print(f"  {label:22} {short[label]:10.2f} {long[label]:10.2f} {ratio:7.2f}")
    print(f"  {'PASS' if verdict else 'FAIL'}: every ratio within {GOAL:.0%} of 1", flush=True)


if __name__ == "__main__":
    main()
