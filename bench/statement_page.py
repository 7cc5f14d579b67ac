"""Benchmark of the statement page under load: `/statements/YYYY-MM/` against `/healthz`.

Creates a throwaway PostgreSQL database, fills it with ``--members`` members, each with a web
account, a card and ``--lines`` usage lines of the latest billing month, confirms the month with
``statement_close`` and publishes it (an ``UPDATE`` of ``published_at``; no emails), and logs
every member in by writing a session row directly (Django's auth keys plus the login time the
accounts app's session limit reads). It then serves the app with the production server
setup (``meisai serve``'s gunicorn, gthread, its default workers × threads) and drives
``wrk`` on 127.0.0.1 at ``--connections`` connections:

1. ``/healthz``, a trivial Django view of the same server, as the baseline;
2. ``/statements/YYYY-MM/`` with a Lua script rotating the members' session cookies;

and prints requests/s, p50/p99 latency, errors and the ratio statement / trivial. Goal: ratio
≥ 0.2 with p99 < 250 ms on the 2-core machine. With ``--redis`` (the default) the rendered
statement bodies are cached in Redis as in production; ``--no-redis`` uses the per-process cache.

    flock /tmp/meisai-heavy.lock uv run python bench/statement_page.py            # the reference run
    uv run python bench/statement_page.py --members 100 --duration 5              # while developing

With ``--population N`` (a national issuer's database) the database also holds ``N``
further members, filled with set-based SQL (``INSERT … SELECT … FROM generate_series``): each
with a card, ``--population-lines`` usage lines of the month and, for every second one, a web
account and a web delivery preference. ``statement_close`` then confirms the month for all of
them (the database's guards accept statements only from the close once usage lines exist), the
statements are published with one ``UPDATE``, and ``VACUUM ANALYZE`` runs before the same
measurement. The measured members are filled first, as without the option; the fill prints the
seconds of each step.

    flock /tmp/meisai-heavy.lock uv run python bench/statement_page.py --population 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module

import psycopg

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of warm-up load")
    parser.add_argument(
        "--workers", type=int, help="gunicorn processes (default: meisai serve's, 4)"
    )
    parser.add_argument(
        "--threads", type=int, help="threads per process (default: meisai serve's, 2)"
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database", default="meisai_bench_pages")
    parser.add_argument("--redis", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--max-requests",
        type=int,
        default=0,
        help="gunicorn worker recycling (meisai serve: 5000); 0 = off, so a recycled worker's "
        "cold start does not land in the timed runs",
    )
    parser.add_argument(
        "--population",
        type=int,
        default=0,
        help="further members with a card, usage lines and a published statement",
    )
    parser.add_argument(
        "--population-lines", type=int, default=10, help="usage lines of each further member"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


def recreate_database(name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            admin.execute(f'CREATE DATABASE "{name}"')


def fill(members: int, lines: int) -> tuple[str, list[str]]:
    """Members with usage lines of the latest month; returns it and the session keys."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.db import transaction

    from meisai import billing_calendar
    from meisai.accounts.middleware import LOGIN_AT_KEY
    from meisai.accounts.models import Account
    from meisai.clock import JST
    from meisai.members.models import Card, DeliveryPreference, Member, Product
    from meisai.statements.models import UsageLine

    month = billing_calendar.latest_billing_month()
    first_use, _ = billing_calendar.usage_period(month)
    confirmed = dt.datetime.combine(month.day(10), dt.time(3), tzinfo=JST)
    merchants = [
        "盛岡百貨店",
        "コンビニエンスストア盛岡駅前",
        "ガソリンスタンド北上",
        "髙橋商店㈱",
        "家電のサトウ",
    ]
    # One hash is enough: every account gets the same password, hashed once.
    template = Account(login_id="template")
    template.set_password("bench-password-1")
    with transaction.atomic():
        product = Product.objects.create(code="STD", name="日専連カード")
        member_rows = Member.objects.bulk_create(
            Member(
                member_no=f"B{n:07d}",
                name_kanji="盛岡 太郎",
                name_kana="モリオカ タロウ",
                birth_date=dt.date(1960, 4, 1),
            )
            for n in range(members)
        )
        cards = Card.objects.bulk_create(
            Card(
                member=m,
                product=product,
                number_hash=f"{m.pk:064x}",
                last4=f"{m.pk % 10000:04d}",
                expiry="2029-12",
            )
            for m in member_rows
        )
        DeliveryPreference.objects.bulk_create(
            DeliveryPreference(
                member=m,
                method="web",
                recorded_at=confirmed - dt.timedelta(days=60),
                source="member",
            )
            for m in member_rows
        )
        accounts = Account.objects.bulk_create(
            Account(
                login_id=f"bench{m.pk:07d}",
                member=m,
                password=template.password,
                personal_message="さくら",
            )
            for m in member_rows
        )
        # Usage lines as the core system's import leaves them; the statements come from the
        # close (close_and_publish), as in production.
        UsageLine.objects.bulk_create(
            (
                UsageLine(
                    member=m,
                    card=card,
                    billing_month=str(month),
                    line_no=n + 1,
                    use_date=first_use + dt.timedelta(days=n % 28),
                    merchant=merchants[n % len(merchants)],
                    user_kind="本人" if n % 4 else "家族",
                    payment_type="1回" if n % 7 else "分割",
                    installment="" if n % 7 else "2/10",
                    use_amount=(n * 1371) % 20000 + 100,
                    billed_amount=(n * 1371) % 20000 + 100,
                )
                for m, card in zip(member_rows, cards, strict=True)
                for n in range(lines)
            ),
            batch_size=5000,
        )
    keys = []
    login_at = time.time()
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore  # noqa: N806
    for account in accounts:
        session = SessionStore()
        session[SESSION_KEY] = str(account.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = account.get_session_auth_hash()
        session[LOGIN_AT_KEY] = login_at
        # Long enough for the whole run; the 15-minute idle limit is refreshed on every request.
        session.set_expiry(3600)
        session.create()
        keys.append(session.session_key)
    return str(month), keys


#: The further members of ``--population``, in the shape of the core system's imports. Member
#: numbers start with P (the measured ones with B); every second member registered for the web
#: (an account and a web delivery preference before the month's cutoff).
POPULATION_SQL = [
    (
        "members",
        """INSERT INTO members_member (member_no, name_kanji, name_kana, birth_date, postal_code,
               address, email, status, cancelled_on, fee_exempt, paper_required, program_excluded,
               created_at, updated_at)
           SELECT 'P' || lpad(i::text, 9, '0'), '会員 ' || i, 'カイイン',
                  date '1950-01-01' + (i %% 20000), '020-0021', '岩手県盛岡市中央通' || (i %% 100),
                  '', 'active', NULL, false, false, false, now(), now()
           FROM generate_series(1, %(population)s) AS i""",
    ),
    (
        "cards",
        """INSERT INTO members_card (member_id, product_id, number_hash, last4, expiry, is_active,
               created_at, updated_at)
           SELECT m.id, %(product)s, md5(m.member_no) || md5(m.member_no || 'x'),
                  right(m.member_no, 4), '2029-12', true, now(), now()
           FROM members_member m WHERE m.member_no LIKE 'P%%'""",
    ),
    (
        "delivery preferences",
        """INSERT INTO members_deliverypreference (member_id, method, recorded_at, source, reason,
               actor)
           SELECT m.id, 'web', %(registered)s, 'registration', '', ''
           FROM members_member m WHERE m.member_no LIKE 'P%%' AND m.id %% 2 = 0""",
    ),
    (
        "web accounts",
        """INSERT INTO accounts_account (password, last_login, is_superuser, login_id, member_id,
               email, personal_message, source, is_active, is_staff, created_at, deactivated_at,
               lockout_notified_at)
           SELECT %(password)s, NULL, false, lower(m.member_no), m.id, '', 'さくら',
                  'registration', true, false, %(registered)s, NULL, NULL
           FROM members_member m WHERE m.member_no LIKE 'P%%' AND m.id %% 2 = 0""",
    ),
    (
        "usage lines",
        """INSERT INTO statements_usageline (member_id, card_id, billing_month, line_no, use_date,
               merchant, user_kind, payment_type, installment, use_amount, billed_amount, note,
               batch_id)
           SELECT c.member_id, c.id, %(month)s, k, %(first_use)s + ((k * 7 + c.id) %% 28)::int,
                  '加盟店 ' || k, CASE WHEN k %% 4 = 0 THEN '家族' ELSE '本人' END, '1回', '',
                  500 + ((c.id * 31 + k * 977) %% 20000), 500 + ((c.id * 31 + k * 977) %% 20000),
                  '', NULL
           FROM members_card c JOIN members_member m ON m.id = c.member_id
           CROSS JOIN generate_series(1, %(lines)s) AS k
           WHERE m.member_no LIKE 'P%%'""",
    ),
]


def _step(label: str, work: Callable[[], object]) -> None:
    started = time.perf_counter()
    work()
    print(f"    {label:30} {time.perf_counter() - started:7.1f} s", flush=True)


def fill_population(population: int, lines: int) -> None:
    """The ``--population`` members with their cards, accounts and usage lines of the month."""
    from django.db import connection

    from meisai import billing_calendar
    from meisai.accounts.models import Account
    from meisai.members.models import Product

    month = billing_calendar.latest_billing_month()
    first_use, _ = billing_calendar.usage_period(month)
    template = Account(login_id="template")
    template.set_password("bench-password-1")
    params = {
        "population": population,
        "lines": lines,
        "month": str(month),
        "first_use": first_use,
        "product": Product.objects.get(code="STD").pk,
        "password": template.password,
        "registered": billing_calendar.registration_cutoff(month.previous()),
    }

    print(f"  population: {population:,} members × {lines} usage lines", flush=True)
    for label, sql in POPULATION_SQL:
        _step(label, lambda sql=sql: connection.cursor().execute(sql, params))
    # Fresh statistics, so the close plans its joins for the real table sizes.
    _step("VACUUM ANALYZE", lambda: connection.cursor().execute("VACUUM ANALYZE"))


def close_and_publish() -> None:
    """Confirm the month with ``statement_close`` and publish it (without the emails)."""
    from django.db import connection

    from meisai import billing_calendar
    from meisai.clock import JST
    from meisai.statements.close import statement_close

    month = billing_calendar.latest_billing_month()
    _step("statement_close", lambda: statement_close(month=month, actor="bench"))
    published = dt.datetime.combine(
        billing_calendar.confirmation_date(month), dt.time(9), tzinfo=JST
    )
    _step(
        "publish (UPDATE)",
        lambda: connection.cursor().execute(
            "UPDATE statements_statement SET published_at = %s"
            " WHERE billing_month = %s AND published_at IS NULL",
            [published, str(month)],
        ),
    )
    if connection.vendor == "postgresql":
        _step("VACUUM ANALYZE", lambda: connection.cursor().execute("VACUUM ANALYZE"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM members_member), (SELECT count(*) FROM"
            " statements_usageline), (SELECT count(*) FROM statements_statement WHERE"
            " published_at IS NOT NULL), (SELECT count(*) FROM accounts_account)"
        )
        members, usage_lines, statements, accounts = cursor.fetchone()
    print(
        f"  database: {members:,} members, "
        f"{usage_lines:,} usage lines, {statements:,} published statements, "
        f"{accounts:,} web accounts",
        flush=True,
    )


LUA = """
local cookies = {%s}
local i = 0
init = function(args)
  i = math.random(#cookies)
end
request = function()
  i = i %% #cookies + 1
  return wrk.format("GET", "%s", {["Cookie"] = "sessionid=" .. cookies[i]})
end
"""


def wrk(
    url: str, *, connections: int, duration: int, script: str | None = None
) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", script]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": _ms(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1)),
        "p99": _ms(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1)),
        "errors": float(
            sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
            + sum(int(n) for n in re.findall(r"Socket errors: .*?timeout (\d+)", output))
        ),
        "requests": float(re.search(r"(\d+) requests in", output).group(1)),
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _get(url: str, session_key: str) -> int:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={session_key}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 only
        response.read()
        return int(response.status)


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server did not answer {url} within {timeout} s")


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("statement_page: needs the load generator wrk (Debian: apt-get install wrk)")
    database_url = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "meisai.settings",
        "MEISAI_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    if args.redis:
        env["REDIS_URL"] = REDIS_URL
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
    os.environ.pop("REDIS_URL", None)
    os.environ.update(env)
    # meisai serve's defaults, read once the environment above is in place.
    from meisai import config

    args.workers = args.workers or config.SERVE_WORKERS
    args.threads = args.threads or config.SERVE_THREADS

    print(
        f"statement page benchmark: {args.members} members × {args.lines} lines, "
        f"{args.connections} connections, gunicorn gthread {args.workers}×{args.threads}, "
        f"cache {'Redis' if args.redis else 'per process'}, max-requests {args.max_requests or 'off'}"
        + (f", population {args.population:,}" if args.population else ""),
        flush=True,
    )
    recreate_database(args.database)
    server = None
    try:
        subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"], env=env, check=True)
        started = time.perf_counter()
        month, keys = fill(args.members, args.lines)
        print(f"  data: {time.perf_counter() - started:.1f} s (billing month {month})", flush=True)
        if args.population:
            fill_population(args.population, args.population_lines)
        close_and_publish()
        print(f"  fill, close and publish: {time.perf_counter() - started:.1f} s", flush=True)

        from meisai.core.management.commands.serve import gunicorn_argv

        argv = gunicorn_argv(
            bind=f"127.0.0.1:{args.port}",
            workers=args.workers,
            threads=args.threads,
            extra=[f"--max-requests={args.max_requests}"],
        )
        server = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{args.port}"
        wait_until_up(f"{base}/healthz")

        cookie_list = ", ".join(f'"{k}"' for k in keys)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(LUA % (cookie_list, f"/statements/{month}/"))
        # The same trivial view with a member's session: what the session and login cost alone.
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as session_script:
            session_script.write(LUA % (cookie_list, "/healthz"))
        page = f"{base}/statements/{month}/"
        check = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                f"Cookie: sessionid={keys[0]}",
                page,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if check != "200":
            raise SystemExit(f"{page} answered {check} for a logged-in member")
        # Every member opens the page once first, as on the 13th: later views are cache hits.
        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda key: _get(page, key), keys))
        bad = [status for status in statuses if status != 200]
        print(
            f"  first view of every member: {time.perf_counter() - started:.1f} s "
            f"({len(keys) / (time.perf_counter() - started):.0f}/s), {len(bad)} not 200",
            flush=True,
        )
        if args.warmup:
            wrk(page, connections=args.connections, duration=args.warmup, script=script.name)
            wrk(f"{base}/healthz", connections=args.connections, duration=min(args.warmup, 3))
        trivial = wrk(f"{base}/healthz", connections=args.connections, duration=args.duration)
        with_session = wrk(
            f"{base}/healthz",
            connections=args.connections,
            duration=args.duration,
            script=session_script.name,
        )
        statement = wrk(
            page, connections=args.connections, duration=args.duration, script=script.name
        )
        os.unlink(script.name)
        os.unlink(session_script.name)

        print(f"  {'':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'requests':>9}")
        for label, result in (
            ("trivial view /healthz", trivial),
            ("/healthz with a session", with_session),
            (f"statement /statements/{month}/", statement),
        ):
            print(
                f"  {label:28} {result['rps']:9.1f} {result['p50']:8.1f} {result['p99']:8.1f} "
                f"{int(result['errors']):7d} {int(result['requests']):9d}"
            )
        ratio = statement["rps"] / trivial["rps"]
        print(
            f"  ratio /healthz with a session / trivial: {with_session['rps'] / trivial['rps']:.2f}; "
            f"statement / /healthz with a session: {statement['rps'] / with_session['rps']:.2f}"
        )
        ok = ratio >= 0.2 and statement["p99"] < 250 and statement["errors"] == 0
        print(
            f"  ratio statement/trivial: {ratio:.2f} (goal ≥ 0.20), statement p99 "
            f"{statement['p99']:.1f} ms (goal < 250 ms): {'PASS' if ok else 'FAIL'}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(args.database, drop_only=True)


if __name__ == "__main__":
    main()
