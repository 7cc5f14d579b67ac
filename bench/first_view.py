"""Benchmark of a first view: the statement page and its PDF for members who have not opened them.

On the confirmation day most members open this month's statement once, so the rendered body is
not cached yet and the PDF's SHA-256 not recorded: the page reads the statement, its lines, its
balances and points, renders the body and stores it; the PDF is drawn and its digest recorded.
This benchmark measures that case, in-process, through the full middleware stack with a
logged-in session (Django's test client with the member's session cookie, no test instrumentation
of templates), next to baselines of the same run:

1. ``/healthz`` without a session (the trivial view) and with the member's session;
   the top page ``/`` (where a member lands after logging in; nothing of it is cached);
2. ``/statements/YYYY-MM/``, first view (cache empty for that member and month), then cached;
3. ``/statements/YYYY-MM.pdf``, first download (records the digest), then again (checks it).

Each of ``--members`` members (web account, card, ``--lines`` usage lines of the latest billing
month, confirmed with ``statement_close`` and published) is measured once per row, so a median is
over that many different members; each of ``--runs`` runs has members of its own. Per run it
prints, for each row, the median and p90 of the wall time (the server's time, the database's and
Redis's included) and of this process's CPU time (meisai's own work: on a shared machine the wall
time also waits for a core), the queries of one member's requests, the PDF's rendering alone
(``statement_pdf`` on the same statements, no request) and the load average before and after;
then the range of the runs' medians against the goals, and the security event's ``INSERT`` alone.
On PostgreSQL (throwaway database ``--database``, sessions, accounts and bodies in Redis as in
production) and on SQLite (a throwaway file, the per-process cache, as embedded). Goals: first
view median ≤ 5 ms, PDF median ≤ 10 ms.

    flock /tmp/meisai-heavy.lock uv run python bench/first_view.py          # the reference run
    uv run python bench/first_view.py --members 100 --engine sqlite         # while developing
    uv run python bench/first_view.py --members 300 --profile page          # where the time goes

``--profile healthz|top|page|pdf`` runs ``/healthz`` with a session, the top page, the first
views or the first PDFs of the members (each after one unprofiled ``/healthz``, as in the table)
under cProfile and prints the functions with the most cumulative and own time instead of the
table. ``--show-queries`` prints the SQL of the first member's requests with each query's wall
time.
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
#: The issue's goals: a first view's server time, and the PDF's (the first download's, and its
#: rendering alone, printed too).
GOALS = {"page first view": 5.0, "PDF first download": 10.0, "PDF rendering alone": 10.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--engine", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--database", default="meisai_bench_first_view")
    parser.add_argument("--runs", type=int, default=3, help="runs, each of --members new members")
    parser.add_argument("--profile", choices=["healthz", "top", "page", "pdf"])
    parser.add_argument(
        "--show-queries", action="store_true", help="print the SQL of the first member's requests"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def _ms(started: int) -> float:
    return (time.perf_counter_ns() - started) / 1e6


def _summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.9) - 1)]


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def _timed(timed: list[tuple[float, str]]) -> Callable[..., object]:
    """A database execute wrapper that appends (wall ms, SQL) of each query to ``timed``."""

    def wrapper(execute: Callable[..., object], sql: str, *rest: object) -> object:
        begun = time.perf_counter_ns()
        try:
            return execute(sql, *rest)
        finally:
            timed.append((_ms(begun), sql))

    return wrapper


#: The rows of one member's requests, in the order they are sent: label, path, with the session.
PLAN = [
    ("/healthz, no session", "healthz", False),
    ("/healthz with a session", "healthz", True),
    # The page a member lands on after logging in, before the statement (its reads are not
    # cached either).
    ("top page", "top", True),
    ("page first view", "page", True),
    ("page cached", "page", True),
    ("PDF first download", "pdf", True),
    ("PDF again", "pdf", True),
]


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
    # Every run has members of its own: a first view is a first view only once.
    month, keys = fill(args.members * args.runs + 1, args.lines)
    close_and_publish()
    print(f"  fill, close and publish: {time.perf_counter() - started:.1f} s", flush=True)

    client = Client(HTTP_HOST="127.0.0.1")
    paths = {
        "healthz": "/healthz",
        "top": "/",
        "page": f"/statements/{month}/",
        "pdf": f"/statements/{month}.pdf",
    }

    def get(path: str, key: str | None) -> tuple[float, float]:
        """One request: its wall time and this thread's CPU time, in ms."""
        client.cookies.clear()
        if key:
            client.cookies[settings.SESSION_COOKIE_NAME] = key
        begun, begun_cpu = time.perf_counter_ns(), time.thread_time_ns()
        response = client.get(path)
        elapsed, cpu = _ms(begun), (time.thread_time_ns() - begun_cpu) / 1e6
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        return elapsed, cpu

    # Warm the process (URL resolver, templates, the font) on the first member, then leave it
    # out: every measured member is new to the page and the PDF.
    warm, keys = keys[0], keys[1:]
    for name in ("healthz", "page", "page", "pdf", "pdf"):
        get(paths[name], warm)

    if args.profile:
        profiler = cProfile.Profile()
        for key in keys[: args.members]:
            # As in the plan: the member's session and account are in the cache already.
            get(paths["healthz"], key)
            profiler.enable()
            get(paths[args.profile], key)
            profiler.disable()
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        return

    medians: dict[str, list[tuple[float, float]]] = {label: [] for label in GOALS}
    for run in range(args.runs):
        members = keys[run * args.members : (run + 1) * args.members]
        print(f"  run {run + 1} of {args.runs}, {len(members)} members, {_load()}", flush=True)
        wall: dict[str, list[float]] = {label: [] for label, _, _ in PLAN}
        cpu: dict[str, list[float]] = {label: [] for label, _, _ in PLAN}
        queries: dict[str, int] = {}
        for index, key in enumerate(members):
            for label, name, logged_in in PLAN:
                if index == 0:
                    timed: list[tuple[float, str]] = []
                    with (
                        CaptureQueriesContext(connection) as captured,
                        connection.execute_wrapper(_timed(timed)),
                    ):
                        times = get(paths[name], key if logged_in else None)
                    queries[label] = len(captured)
                    if args.show_queries:
                        print(f"  -- {label}: {len(captured)} queries", flush=True)
                        for took, sql in timed:
                            print(f"     {took:6.3f} ms  {sql[:200]}", flush=True)
                else:
                    times = get(paths[name], key if logged_in else None)
                wall[label].append(times[0])
                cpu[label].append(times[1])
        rendering = _pdf_rendering(members_from=run * args.members + 1, count=len(members))
        # Wall time is the server's time, the database's and Redis's included; the CPU time of
        # this process shows how much of it is meisai's own and how much the machine's other
        # load added (on a busy machine the wall time waits for a core).
        print(f"  {'':26} {'wall ms':>8} {'p90':>7} {'CPU ms':>8} {'p90':>7} {'queries':>8}")
        for label, _, _ in PLAN:
            wall_median, wall_p90 = _summary(wall[label])
            cpu_median, cpu_p90 = _summary(cpu[label])
            goal = f"  (goal ≤ {GOALS[label]:g} ms)" if label in GOALS else ""
            print(
                f"  {label:26} {wall_median:8.2f} {wall_p90:7.2f} {cpu_median:8.2f} "
                f"{cpu_p90:7.2f} {queries[label]:8d}{goal}"
            )
            if label in medians:
                medians[label].append((wall_median, cpu_median))
        render_median, render_p90 = _summary(rendering)
        print(
            f"  {'PDF rendering alone':26} {'':8} {'':7} {render_median:8.2f} "
            f"{render_p90:7.2f} {0:8d}  (statement_pdf, no request)"
        )
        medians.setdefault("PDF rendering alone", []).append((render_median, render_median))
        print(f"  after run {run + 1}: {_load()}", flush=True)
    print(f"  over {args.runs} run(s) of {args.members} members each (range of the medians):")
    for label, found in medians.items():
        walls, cpus = [w for w, _ in found], [c for _, c in found]
        goal = GOALS.get(label)
        verdict = ""
        if goal is not None:
            alone = label == "PDF rendering alone"
            verdict = f"  goal ≤ {goal:g} ms: CPU {'met' if max(cpus) <= goal else 'NOT met'}"
            if not alone:
                verdict += f", wall {'met' if max(walls) <= goal else 'NOT met'}"
        wall_range = "" if label == "PDF rendering alone" else f"wall {_range(walls)}, "
        print(f"    {label:24} {wall_range}CPU {_range(cpus)} ms{verdict}", flush=True)
    _security_event_alone(month, count=args.members)
    _health_check_alone(count=args.members)


def _security_event_alone(month: str, *, count: int) -> None:
    """The security event every statement view writes (audit/security_events.py), alone: its
    share of a first view, outside the statement's modules."""
    from meisai.accounts.models import Account
    from meisai.audit.security_events import security_event

    accounts = Account.objects.filter(member__isnull=False).values_list("member_id", "login_id")
    wall, cpu = [], []
    for member_id, login_id in accounts[:count]:
        begun, begun_cpu = time.perf_counter_ns(), time.thread_time_ns()
        security_event("statement_viewed", member_id=member_id, login_id=login_id, month=month)
        wall.append(_ms(begun))
        cpu.append((time.thread_time_ns() - begun_cpu) / 1e6)
    print(
        f"    {'security event alone':24} wall {_summary(wall)[0]:.2f}, "
        f"CPU {_summary(cpu)[0]:.2f} ms (1 INSERT; part of every first view)",
        flush=True,
    )


def _health_check_alone(*, count: int) -> None:
    """The connection's health check that ``meisai serve`` runs before each request's first
    query (Django's test client, which this harness uses, skips it): Django's ``SELECT 1``
    against meisai's (core/postgresql/base.py) on the same connection, each ``count`` times,
    with the CPU the PostgreSQL backend process spent on them."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    from django.db.backends.postgresql.base import DatabaseWrapper as DjangoDatabaseWrapper

    connection.ensure_connection()
    schedstat = Path(f"/proc/{connection.connection.info.backend_pid}/schedstat")

    def server_ms() -> float:
        # The database runs on this machine (127.0.0.1): its backend's CPU, in nanoseconds.
        return int(schedstat.read_text().split()[0]) / 1e6 if schedstat.exists() else 0.0

    for label, check in (
        ("Django's SELECT 1", lambda: DjangoDatabaseWrapper.is_usable(connection)),
        ("meisai's socket poll", connection.is_usable),
    ):
        begun, begun_cpu, begun_server = time.perf_counter_ns(), time.thread_time_ns(), server_ms()
        for _ in range(count):
            assert check()
        wall = _ms(begun) / count
        cpu = (time.thread_time_ns() - begun_cpu) / 1e6 / count
        server = (server_ms() - begun_server) / count
        print(
            f"    health check, {label:20} wall {wall:.3f}, CPU {cpu:.3f} ms, "
            f"PostgreSQL CPU {server:.3f} ms (before each request's first query)",
            flush=True,
        )


def _range(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if len(values) == 1 else f"{low:.2f}–{high:.2f}"


def _pdf_rendering(*, members_from: int, count: int) -> list[float]:
    """CPU ms of ``statement_pdf`` alone for the statements of a run's members, already read."""
    from django.conf import settings

    from meisai.accounts.models import Account
    from meisai.statements import selectors
    from meisai.statements.pdf import statement_pdf

    member_ids = list(
        Account.objects.filter(member__isnull=False)
        .order_by("id")
        .values_list("member_id", flat=True)[members_from : members_from + count]
    )
    month = selectors.visible_billing_months()[0]
    times = []
    for member_id in member_ids:
        statement = selectors.published_statement(member=member_id, month=month)
        assert statement is not None
        view = selectors.statement_view(statement=statement)
        begun = time.thread_time_ns()
        statement_pdf(view=view, issuer=settings.MEISAI_ISSUER_NAME)
        times.append((time.thread_time_ns() - begun) / 1e6)
    return times


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
    command = [sys.executable, __file__, "--child", f"--members={args.members}"]
    command += [f"--lines={args.lines}", f"--runs={args.runs}"] + (
        [f"--profile={args.profile}"] if args.profile else []
    )
    command += ["--show-queries"] if args.show_queries else []
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
