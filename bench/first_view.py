"""Benchmark of a first view: the statement page and its PDF for members who have not opened them.

On the confirmation day most members open this month's statement once, so the rendered body is
not cached yet and the PDF's SHA-256 not recorded: the page reads the statement, its lines, its
balances and points, renders the body and stores it; the PDF is drawn and its digest recorded.
This benchmark measures that case, in-process, through the full middleware stack with a
logged-in session (Django's test client with the member's session cookie, no test instrumentation
of templates), next to baselines of the same run:

1. ``/healthz`` without a session (the trivial view) and with the member's session;
2. ``/statements/YYYY-MM/``, first view (cache empty for that member and month), then cached;
3. ``/statements/YYYY-MM.pdf``, first download (records the digest), then again (checks it).

Each of ``--members`` members (web account, card, ``--lines`` usage lines of the latest billing
month, confirmed with ``statement_close`` and published) is measured once per row, so a median is
over that many different members. It prints median and p90 ms of each row and the number of
database queries of one member's requests, on PostgreSQL (throwaway database ``--database``,
sessions, accounts and bodies in Redis as in production) and on SQLite (a throwaway file, the
per-process cache, as embedded). Goal: first view median ≤ 5 ms, PDF median ≤ 10 ms.

    flock /tmp/meisai-heavy.lock uv run python bench/first_view.py          # the reference run
    uv run python bench/first_view.py --members 100 --engine sqlite         # while developing
    uv run python bench/first_view.py --members 300 --profile page          # where the time goes

``--profile page|pdf`` runs the first views (or first PDFs) of the members under cProfile and
prints the functions with the most cumulative and own time instead of the table.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Not statement_page.py's database, so the two can be developed side by side.
REDIS_URL = "redis://127.0.0.1:6379/12"
GOALS = {"page first view": 5.0, "PDF first download": 10.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--engine", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--database", default="meisai_bench_first_view")
    parser.add_argument("--profile", choices=["page", "pdf"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def _ms(started: int) -> float:
    return (time.perf_counter_ns() - started) / 1e6


def _summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.9) - 1)]


def measure(args: argparse.Namespace) -> None:
    """In the child process, whose environment names one database."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from statement_page import close_and_publish, fill

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    month, keys = fill(args.members, args.lines)
    close_and_publish()
    print(f"  fill, close and publish: {time.perf_counter() - started:.1f} s", flush=True)

    client = Client(HTTP_HOST="127.0.0.1")
    page, pdf = f"/statements/{month}/", f"/statements/{month}.pdf"

    cpu: dict[str, list[float]] = {}

    def get(path: str, key: str | None, label: str = "") -> float:
        client.cookies.clear()
        if key:
            client.cookies[settings.SESSION_COOKIE_NAME] = key
        begun, begun_cpu = time.perf_counter_ns(), time.thread_time_ns()
        response = client.get(path)
        elapsed = _ms(begun)
        cpu.setdefault(label, []).append((time.thread_time_ns() - begun_cpu) / 1e6)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        return elapsed

    # Warm the process (URL resolver, templates, the font) on the first member, then leave it
    # out: every measured member is new to the page and the PDF.
    warm, keys = keys[0], keys[1:]
    for path in ("/healthz", page, page, pdf, pdf):
        get(path, warm)

    if args.profile:
        path = page if args.profile == "page" else pdf
        profiler = cProfile.Profile()
        profiler.enable()
        for key in keys:
            get(path, key)
        profiler.disable()
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        return

    rows: dict[str, list[float]] = {
        "/healthz, no session": [],
        "/healthz with a session": [],
        "page first view": [],
        "page cached": [],
        "PDF first download": [],
        "PDF again": [],
    }
    plan: list[tuple[str, str, bool]] = [
        ("/healthz, no session", "/healthz", False),
        ("/healthz with a session", "/healthz", True),
        ("page first view", page, True),
        ("page cached", page, True),
        ("PDF first download", pdf, True),
        ("PDF again", pdf, True),
    ]
    queries: dict[str, int] = {}
    for index, key in enumerate(keys):
        for label, path, logged_in in plan:
            if index == 0:
                with CaptureQueriesContext(connection) as captured:
                    rows[label].append(get(path, key if logged_in else None, label))
                queries[label] = len(captured)
            else:
                rows[label].append(get(path, key if logged_in else None, label))

    # Wall time is the server time asked for; the CPU time of this process (without the
    # database's) shows how much of it the machine's other load added.
    print(f"  {'':26} {'median ms':>10} {'p90 ms':>8} {'CPU ms':>8} {'queries':>8}")
    for label, times in rows.items():
        median, p90 = _summary(times)
        goal = f"  (goal ≤ {GOALS[label]:g} ms)" if label in GOALS else ""
        cpu_median = statistics.median(cpu[label])
        print(f"  {label:26} {median:10.2f} {p90:8.2f} {cpu_median:8.2f} {queries[label]:8d}{goal}")
    # The security event every view writes (audit/security_events.py), alone: its share of a
    # view's time.
    from meisai.accounts.models import Account
    from meisai.audit.security_events import security_event

    accounts = list(
        Account.objects.filter(member__isnull=False).values_list("member_id", "login_id")
    )
    event_times = []
    for member_id, login_id in accounts[: len(keys)]:
        begun = time.perf_counter_ns()
        security_event("statement_viewed", member_id=member_id, login_id=login_id, month=month)
        event_times.append(_ms(begun))
    median, p90 = _summary(event_times)
    print(f"  {'security event alone':26} {median:10.2f} {p90:8.2f} {'':>8} {1:8d}")
    verdict = all(_summary(rows[label])[0] <= goal for label, goal in GOALS.items())
    print(f"  {'PASS' if verdict else 'FAIL'} over {len(keys)} members", flush=True)


def run_child(engine: str, args: argparse.Namespace) -> None:
    from statement_page import recreate_database

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "meisai.settings",
        "MEISAI_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.pop("MEISAI_MIGRATE_DATABASE_URL", None)
    cleanup: Callable[[], None]
    if engine == "postgres":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        recreate_database(args.database)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
        env["REDIS_URL"] = REDIS_URL

        def cleanup() -> None:
            recreate_database(args.database, drop_only=True)
            redis.Redis.from_url(REDIS_URL).flushdb()

        described = f"PostgreSQL {args.database}, Redis cache and sessions"
    else:
        folder = tempfile.TemporaryDirectory(prefix="meisai-first-view-")
        env["DATABASE_URL"] = f"sqlite:///{folder.name}/bench.sqlite3"
        cleanup = folder.cleanup
        described = "SQLite file, per-process cache, database sessions"
    print(
        f"first view benchmark: {args.members} members × {args.lines} lines, {described}",
        flush=True,
    )
    command = [sys.executable, __file__, "--child", f"--members={args.members + 1}"]
    command += [f"--lines={args.lines}"] + ([f"--profile={args.profile}"] if args.profile else [])
    try:
        subprocess.run(command, env=env, check=True)
    finally:
        cleanup()


def main() -> None:
    args = parse_args()
    if args.child:
        measure(args)
        return
    for engine in ("postgres", "sqlite") if args.engine == "both" else (args.engine,):
        run_child(engine, args)


if __name__ == "__main__":
    main()
