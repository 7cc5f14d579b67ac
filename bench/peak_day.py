"""The confirmation day (請求額確定) as members live it, against the floors of the same run.

Every member with a web account gets the 請求額確定 email and many open their statement within
hours. This bench plays that morning on the production path:

1. a throwaway PostgreSQL database (``meisai_hd_peak``) with ``--members`` members (card, web
   delivery preference, web account with an address), ``--lines`` usage lines each of the
   latest billing month, confirmed by ``statement_close`` and published (an ``UPDATE`` of
   ``published_at``; no emails). Members, cards, preferences, accounts, remembered browsers and
   usage lines go in by ``COPY``. Every account has the same password, hashed **once** with the
   production hasher (``MeisaiArgon2PasswordHasher``) and copied to every row: each salt is the
   same, but a verification costs exactly what it costs with a salt of its own. 80 % of the
   members have a remembered browser (its row and its signed cookie); 20 % log in from a new
   browser. ``--population N`` adds N further members (a national issuer) by set-based SQL,
   as bench/statement_page.py does, before the close.
2. ``meisai serve`` with ``MEISAI_ENV=production`` (generated secrets, Redis cache and sessions,
   Celery tasks queued in Redis, collected static files, ``MEISAI_TRUSTED_PROXIES=1``), its own
   worker and thread defaults, on 127.0.0.1. Nothing of production is weakened: the load comes
   as through a TLS-terminating proxy, with ``Host``, ``X-Forwarded-Proto: https`` and an
   ``X-Forwarded-For`` naming a distinct client address per member (as the proxy would for
   members at home; the throttles count failures only, and there are none, so this changes
   nothing for them but the addresses the security events record), ``Origin`` and ``Referer``
   on every POST (Django's CSRF check over HTTPS), and the ``__Host-`` cookies sent back by
   hand (an HTTP client keeps ``Secure`` cookies to itself over plain HTTP).
3. The load: an asyncio client (bench/lean_http.py: keep-alive HTTP/1.1, little parsing, because
   it shares the cores with the server) with ``--concurrency`` members at once (default: the
   server's workers × threads, every slot busy, none queueing), each logging in once:
   ``GET /login/``, ``POST /login/``; a new browser then ``GET /login/code/``, reads its code —
   the newest ``login_code`` message to its address in the outbox, unsealed with the server's
   ``SECRET_KEY`` as the sender does — and ``POST /login/code/``; then ``GET /`` (the top page),
   ``GET /statements/YYYY-MM/`` (its first view), ``GET /statements/YYYY-MM.pdf`` and
   ``POST /logout/``. Bounded by ``--duration`` seconds and ``--count`` members.
4. The floors of the same run, through the same server and client: Argon2id verification alone
   with the production hash on a process pool of the server's worker count (server idle), the
   cached statement page (sessions written straight into Redis for members who opened it) and
   ``/healthz``.

Prints members/s, p50 and p99 of every step, errors by kind, the CPU ``meisai serve`` and the
load generator spent per member served (from /proc), the floors, then (``--profile N``) N more
members played one at a time with each step's server CPU, and PASS or FAIL against the floor:
members/s ≥ 0.7 × the Argon2-alone rate, p99 of every page < 500 ms, no error. The database,
its two roles and the Redis database 11 are emptied at the start and the end (unless
``--keep``): run it under the lock, never two at once.

    flock /tmp/meisai-heavy.lock uv run python bench/peak_day.py                   # 20,000 members
    flock /tmp/meisai-heavy.lock uv run python bench/peak_day.py --population 1000000
    uv run python bench/peak_day.py --members 500 --duration 10 --floor-seconds 3  # quick
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import lean_http  # noqa: E402
from argon2_cost import verifications_per_second  # noqa: E402
from sample_data import MERCHANTS  # noqa: E402

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
#: A Redis database of its own: the run empties it at the start and the end.
REDIS_URL = "redis://127.0.0.1:6379/11"
HOST = "meisai.example.jp"
PASSWORD = "bench-password-1"
#: Every fifth member logs in from a browser the site has not seen (20 %).
NEW_BROWSER_EVERY = 5
#: The floor (issue 16): members/s against Argon2 alone, and every page's p99.
FLOOR_RATIO = 0.7
P99_LIMIT_MS = 500.0
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_CODE = re.compile(r"確認コード:(\d{6})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=20000)
    parser.add_argument("--lines", type=int, default=30, help="usage lines per statement")
    parser.add_argument("--population", type=int, default=0, help="further members (national)")
    parser.add_argument("--population-lines", type=int, default=10)
    parser.add_argument("--duration", type=float, default=180, help="seconds of load at most")
    parser.add_argument("--count", type=int, help="members to serve at most (default: all)")
    parser.add_argument(
        "--concurrency", type=int, help="members at once (default: workers × threads)"
    )
    parser.add_argument("--workers", type=int, help="default: meisai serve's")
    parser.add_argument("--threads", type=int, help="default: meisai serve's")
    parser.add_argument(
        "--floor-seconds", type=float, default=15, help="seconds of each floor measurement"
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=50,
        help="members played one at a time after the floors, for each step's server CPU",
    )
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--database", default="meisai_hd_peak")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


def production_env(database: str, static_root: str, media_root: str) -> dict[str, str]:
    OWNER_ROLE, APP_ROLE = _roles(database)  # noqa: N806
    return {
        **os.environ,
        "MEISAI_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "CARD_HASH_KEY": secrets.token_urlsafe(48),
        "MEISAI_ALLOWED_HOSTS": HOST,
        "MEISAI_BASE_URL": f"https://{HOST}",
        "DATABASE_URL": f"postgres://{APP_ROLE}@127.0.0.1:5432/{database}",
        "MEISAI_MIGRATE_DATABASE_URL": f"postgres://{OWNER_ROLE}@127.0.0.1:5432/{database}",
        "REDIS_URL": REDIS_URL,
        # The sender is not running: the login codes stay in the outbox, sealed, where the
        # bench reads them. Nothing is sent.
        "EMAIL_URL": "smtp://127.0.0.1:25",
        "MEISAI_TRUSTED_PROXIES": "1",
        "MEISAI_STATIC_ROOT": static_root,
        "MEISAI_MEDIA_ROOT": media_root,
        "MEISAI_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "meisai.settings",
    }


def _roles(database: str) -> tuple[str, str]:
    """Production's two roles (docs/deployment.md), named after the database: the owner, and
    the application role the server runs as."""
    return f"{database}_owner", f"{database}_app"


def recreate_database(name: str, *, drop_only: bool = False) -> None:
    """The database owned by the owner role, the application role granted what
    docs/deployment.md ("The two database roles") grants it; ``meisai migrate`` grants the rest."""
    OWNER_ROLE, APP_ROLE = _roles(name)  # noqa: N806
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if drop_only:
            for role in (APP_ROLE, OWNER_ROLE):
                admin.execute(f'DROP ROLE IF EXISTS "{role}"')
            return
        for role in (OWNER_ROLE, APP_ROLE):
            if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{OWNER_ROLE}"')
    with psycopg.connect(ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as database:
        database.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
        database.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{name}" TO "{APP_ROLE}"')
        database.execute(f'GRANT USAGE ON SCHEMA public TO "{APP_ROLE}"')


def _meisai(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "meisai.cli", *args], env=env, cwd=ROOT, check=True)


# --- the database ----------------------------------------------------------------------------


@dataclass
class Member:
    n: int
    login_id: str
    email: str
    browser_cookie: str | None  # the signed remembered-browser cookie, None for a new browser


def _copy(cursor, table: str, columns: str, rows) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fill(members: int, lines: int) -> tuple[str, str, list[Member]]:
    """The measured members by COPY; returns the billing month, the stored hash, the members."""
    from django.core import signing
    from django.db import connection, transaction

    from meisai import billing_calendar
    from meisai.accounts.hashers import MeisaiArgon2PasswordHasher
    from meisai.accounts.views import BROWSER_COOKIE, BROWSER_COOKIE_SALT
    from meisai.clock import now

    month = billing_calendar.latest_billing_month()
    first_use, _ = billing_calendar.usage_period(month)
    registered = billing_calendar.registration_cutoff(month.previous())
    moment = now()
    hasher = MeisaiArgon2PasswordHasher()
    password_hash = hasher.encode(PASSWORD, hasher.salt())
    # As the login view sets it (set_signed_cookie): signed with the key and salt the view checks.
    signer = signing.get_cookie_signer(salt=BROWSER_COOKIE + BROWSER_COOKIE_SALT)
    people: list[Member] = []
    browsers = []
    for n in range(1, members + 1):
        token = None if n % NEW_BROWSER_EVERY == 0 else secrets.token_urlsafe(32)
        people.append(
            Member(
                n, f"peak{n:07d}", f"peak{n:07d}@example.jp", signer.sign(token) if token else None
            )
        )
        if token:
            browsers.append((n, hashlib.sha256(token.encode()).hexdigest(), moment, moment, n))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_product (id, code, name, program_excluded)"
            " VALUES (1, 'STD', '日専連カード', false)"
        )
        _copy(
            cursor,
            "members_member",
            "id, member_no, name_kanji, name_kana, birth_date, postal_code, address, email,"
            " status, fee_exempt, paper_required, program_excluded, created_at, updated_at",
            (
                (
                    n,
                    f"B{n:09d}",
                    "盛岡 太郎",
                    "モリオカ タロウ",
                    dt.date(1950, 1, 1) + dt.timedelta(n % 20000),
                    "020-0021",
                    "岩手県盛岡市中央通1丁目",
                    "",
                    "active",
                    False,
                    False,
                    False,
                    moment,
                    moment,
                )
                for n in range(1, members + 1)
            ),
        )
        _copy(
            cursor,
            "members_card",
            "id, member_id, product_id, number_hash, last4, expiry, is_active, created_at,"
            " updated_at",
            (
                (
                    n,
                    n,
                    1,
                    hashlib.sha256(f"card{n}".encode()).hexdigest(),
                    f"{n % 10000:04d}",
                    "2029-12",
                    True,
                    moment,
                    moment,
                )
                for n in range(1, members + 1)
            ),
        )
        _copy(
            cursor,
            "members_deliverypreference",
            "id, member_id, method, recorded_at, source, reason, actor",
            ((n, n, "web", registered, "registration", "", "") for n in range(1, members + 1)),
        )
        _copy(
            cursor,
            "accounts_account",
            "id, password, is_superuser, login_id, member_id, email, personal_message, source,"
            " is_active, is_staff, created_at",
            (
                (
                    p.n,
                    password_hash,
                    False,
                    p.login_id,
                    p.n,
                    p.email,
                    "岩手山が見える",
                    "registration",
                    True,
                    False,
                    registered,
                )
                for p in people
            ),
        )
        _copy(
            cursor,
            "accounts_rememberedbrowser",
            "id, token_hash, created_at, last_used_at, account_id",
            browsers,
        )
        _copy(
            cursor,
            "statements_usageline",
            "member_id, card_id, billing_month, line_no, use_date, merchant, user_kind,"
            " payment_type, installment, use_amount, billed_amount, note",
            (
                (
                    n,
                    n,
                    str(month),
                    k,
                    first_use + dt.timedelta((k * 7 + n) % 28),
                    MERCHANTS[(n + k) % len(MERCHANTS)],
                    "家族" if k % 4 == 0 else "本人",
                    "1回" if k % 7 else "分割",
                    "" if k % 7 else "2/10",
                    500 + (n * 31 + k * 977) % 20000,
                    500 + (n * 31 + k * 977) % 20000,
                    "",
                )
                for n in range(1, members + 1)
                for k in range(1, lines + 1)
            ),
        )
        # The rows came with their ids: move each identity past them, for the rows served later.
        for table in (
            "members_product",
            "members_member",
            "members_card",
            "members_deliverypreference",
            "accounts_account",
            "accounts_rememberedbrowser",
        ):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                f" (SELECT max(id) FROM {table}))"
            )
    return str(month), password_hash, people


def close_and_publish(population: int, population_lines: int) -> None:
    from django.db import connection

    import statement_page  # bench/statement_page.py: the national population and the close

    if population:
        statement_page.fill_population(population, population_lines)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    statement_page.close_and_publish()


# --- the load --------------------------------------------------------------------------------


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    served: int = 0
    #: Server CPU ms of each step, when the visits are played one at a time (``--profile``).
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    probe: Callable[[], float] | None = None


class Browser:
    """One member's browser behind the proxy: its cookies, its client address."""

    def __init__(self, client: lean_http.Client, member: Member, results: Results) -> None:
        self.client = client
        self.results = results
        self.cookies: dict[str, str] = {}
        if member.browser_cookie:
            self.cookies["meisai_browser"] = member.browser_cookie
        n = member.n
        self.headers = {
            "Host": HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}",
            "User-Agent": "Mozilla/5.0 (peak-day bench)",
        }

    async def call(
        self, step: str, method: str, path: str, *, expect: int, data: dict[str, str] | None = None
    ) -> lean_http.Response:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            headers["Origin"] = f"https://{HOST}"
            headers["Referer"] = f"https://{HOST}{path}"
        probe = self.results.probe
        cpu_before = probe() if probe else 0.0
        started = time.perf_counter()
        response = await self.client.request(method, path, headers=headers, data=data)
        elapsed = (time.perf_counter() - started) * 1000
        self.results.times[step].append(elapsed)
        if probe:
            self.results.cpu[step].append((probe() - cpu_before) * 1000)
        for header in response.headers.get_list("set-cookie"):
            # name=value; attributes. The value goes back as sent (quoted or not: Django's
            # quoting escapes ";"), and a cookie deleted by Max-Age=0 or an empty value goes.
            pair, _, attributes = header.partition(";")
            name, _, value = pair.strip().partition("=")
            if not value or value == '""' or "max-age=0" in attributes.lower().replace(" ", ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        if response.status_code != expect:
            raise StepFailed(f"{step}: {response.status_code} (expected {expect})")
        return response


class StepFailed(Exception):
    pass


def _csrf(response: lean_http.Response) -> str:
    match = _CSRF.search(response.text)
    if not match:
        raise StepFailed("no CSRF token in the page")
    return match.group(1)


async def login_code(outbox: psycopg.AsyncConnection, email: str) -> str:
    """The code of the newest login_code email to ``email``, unsealed as the sender does."""
    from meisai.notifications.sealing import unseal

    async with outbox.cursor() as cursor:
        await cursor.execute(
            "SELECT stored_text FROM notifications_outboxmessage"
            " WHERE template = 'login_code' AND \"to\" = %s ORDER BY id DESC LIMIT 1",
            [email],
        )
        row = await cursor.fetchone()
    match = _CODE.search(unseal(row[0])) if row else None
    if not match:
        raise StepFailed("login code: no code in the outbox")
    return match.group(1)


async def visit(
    client: lean_http.Client,
    outbox: psycopg.AsyncConnection,
    member: Member,
    month: str,
    results: Results,
) -> None:
    browser = Browser(client, member, results)
    page = await browser.call("GET /login/", "GET", "/login/", expect=200)
    credentials = {
        "csrfmiddlewaretoken": _csrf(page),
        "username": member.login_id,
        "password": PASSWORD,
    }
    posted = await browser.call("POST /login/", "POST", "/login/", expect=302, data=credentials)
    if member.browser_cookie is None:
        if posted.headers["location"] != "/login/code/":
            raise StepFailed(f"POST /login/: new browser sent to {posted.headers['location']}")
        page = await browser.call("GET /login/code/", "GET", "/login/code/", expect=200)
        started = time.perf_counter()
        code = await login_code(outbox, member.email)
        results.times["(outbox read, not a page)"].append((time.perf_counter() - started) * 1000)
        answered = await browser.call(
            "POST /login/code/",
            "POST",
            "/login/code/",
            expect=302,
            data={"csrfmiddlewaretoken": _csrf(page), "code": code},
        )
        if answered.headers["location"] != "/":
            raise StepFailed(f"POST /login/code/: sent to {answered.headers['location']}")
    elif posted.headers["location"] != "/":
        raise StepFailed(f"POST /login/: remembered browser sent to {posted.headers['location']}")
    top = await browser.call("GET /", "GET", "/", expect=200)
    await browser.call("GET /statements/M/", "GET", f"/statements/{month}/", expect=200)
    pdf = await browser.call("GET /statements/M.pdf", "GET", f"/statements/{month}.pdf", expect=200)
    if not pdf.content.startswith(b"%PDF"):
        raise StepFailed("GET /statements/M.pdf: not a PDF")
    await browser.call(
        "POST /logout/", "POST", "/logout/", expect=302, data={"csrfmiddlewaretoken": _csrf(top)}
    )
    results.served += 1


def _client(base: str, concurrency: int) -> lean_http.Client:
    # No cookie jar: each Browser keeps its own member's cookies.
    return lean_http.Client(base, connections=concurrency, timeout=30)


async def peak(
    base: str,
    database_url: str,
    members: list[Member],
    month: str,
    *,
    concurrency: int,
    duration: float,
    probe: Callable[[], float] | None = None,
) -> tuple[Results, float]:
    results = Results(probe=probe)
    queue = iter(members)
    deadline = time.perf_counter() + duration

    async def member_after_member(client, outbox) -> None:
        for member in queue:
            if time.perf_counter() >= deadline:
                return
            try:
                await visit(client, outbox, member, month, results)
            except StepFailed as failure:
                results.errors[str(failure)] += 1
            except lean_http.HTTPError as error:
                results.errors[f"HTTPError: {error}"] += 1

    async with _client(base, concurrency) as client:
        outboxes = [
            await psycopg.AsyncConnection.connect(database_url, autocommit=True)
            for _ in range(concurrency)
        ]
        started = time.perf_counter()
        await asyncio.gather(*(member_after_member(client, o) for o in outboxes))
        elapsed = time.perf_counter() - started
        for outbox in outboxes:
            await outbox.close()
    return results, elapsed


async def hammer(
    base: str, path: str, cookies: list[str], *, concurrency: int, seconds: float
) -> tuple[float, list[float], int]:
    """Requests/s, latencies and failures of GET ``path`` for ``seconds``, rotating cookies."""
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def one_after_another(client: lean_http.Client, offset: int) -> None:
        nonlocal failures
        i = offset
        while time.perf_counter() < deadline:
            headers = {
                "Host": HOST,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": f"10.200.0.{offset % 250 + 1}",
            }
            if cookies:
                headers["Cookie"] = f"__Host-sessionid={cookies[i % len(cookies)]}"
            i += concurrency
            started = time.perf_counter()
            try:
                response = await client.get(path, headers=headers)
                ok = response.status_code == 200
            except lean_http.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            failures += not ok

    async with _client(base, concurrency) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one_after_another(client, k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, failures


def sessions_for(members: list[Member], count: int) -> list[str]:
    """Logged-in sessions written straight into the session store (Redis), as a login leaves
    them, for the cached statement page's floor."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from meisai.accounts.middleware import LOGIN_AT_KEY
    from meisai.accounts.models import Account

    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for account in Account.objects.filter(login_id__in=[m.login_id for m in members[:count]]):
        session = store()
        session[SESSION_KEY] = str(account.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = account.get_session_auth_hash()
        session[LOGIN_AT_KEY] = time.time()
        session.create()
        keys.append(session.session_key)
    return keys


def _p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _cpu_seconds(pid: int, *, children: bool) -> float:
    """CPU seconds of a process from /proc (user + system), with those of its reaped children
    when ``children`` (gunicorn's recycled workers end up there)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _on_cpu_seconds(pid: int) -> float:
    """Nanosecond CPU time of every thread of a live process (``/proc/PID/task/*/schedstat``,
    the scheduler's own count), where ``/proc/PID/stat`` counts in 10 ms ticks."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def _workers(master: int) -> list[int]:
    """The live processes whose parent is ``master`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                found.append(int(entry.name))
    return found


def _each(read: Callable[[int], float], pids: list[int]) -> float:
    """The sum of ``read`` over processes, skipping one that ended meanwhile."""
    total = 0.0
    for pid in pids:
        try:
            total += read(pid)
        except OSError:
            continue
    return total


def server_on_cpu_seconds(master: int) -> float:
    """CPU seconds of the gunicorn master and its live workers, to the nanosecond: for the
    one-at-a-time steps, whose few milliseconds the tick count of ``server_cpu_seconds`` blurs
    (a worker recycled meanwhile would drop out; the whole run's figure does not use this)."""
    return _on_cpu_seconds(master) + _each(_on_cpu_seconds, _workers(master))


def server_cpu_seconds(master: int) -> float:
    """CPU seconds the gunicorn master and every worker it ever had have used so far."""
    workers = _workers(master)
    return _cpu_seconds(master, children=True) + _each(
        lambda pid: _cpu_seconds(pid, children=False), workers
    )


def wait_until_up(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers={"Host": HOST})  # noqa: S310
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - 127.0.0.1
                if response.status == 200:
                    return
        except OSError as error:
            last = error
            time.sleep(0.3)
    raise SystemExit(f"server did not answer {url} within {timeout} s: {last!r}")


def main() -> None:
    args = parse_args()
    scratch = tempfile.TemporaryDirectory(prefix="meisai-peak-")
    env = production_env(args.database, f"{scratch.name}/static", f"{scratch.name}/media")
    # This process fills the database and measures: as the owner, which may COPY ids, move
    # the identities and VACUUM; the server runs as the application role.
    os.environ.update(env, DATABASE_URL=env["MEISAI_MIGRATE_DATABASE_URL"])
    os.environ.pop("MEISAI_MIGRATE_DATABASE_URL")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    from meisai import config

    workers = args.workers or config.SERVE_WORKERS
    threads = args.threads or config.SERVE_THREADS
    concurrency = args.concurrency or workers * threads

    import django

    django.setup()
    from meisai.accounts.hashers import MeisaiArgon2PasswordHasher as Chosen

    print(
        f"peak-day benchmark: {args.members:,} members × {args.lines} lines"
        + (f", population {args.population:,}" if args.population else "")
        + f"; meisai serve (production) {workers} workers × {threads} threads;"
        f" {concurrency} members at once; Argon2id m={Chosen.memory_cost},t={Chosen.time_cost},"
        f"p={Chosen.parallelism}; {os.cpu_count()} cores",
        flush=True,
    )
    recreate_database(args.database)
    server = None
    try:
        _meisai(env, "migrate", "--no-input", "-v0")
        _meisai(env, "collectstatic", "--no-input", "-v0")
        started = time.perf_counter()
        month, password_hash, members = fill(args.members, args.lines)
        print(f"  fill by COPY: {time.perf_counter() - started:.1f} s (month {month})", flush=True)
        close_and_publish(args.population, args.population_lines)
        print(f"  fill, close and publish: {time.perf_counter() - started:.1f} s", flush=True)
        from django.db import connections

        connections.close_all()

        server_log = open(f"{scratch.name}/server.log", "w")  # noqa: SIM115 - closed with scratch
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meisai.cli",
                "serve",
                f"--bind=127.0.0.1:{args.port}",
                f"--workers={workers}",
                f"--threads={threads}",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            # gunicorn's and Django's warnings, in a file: printed only when the run fails.
            stderr=server_log,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{args.port}"
        try:
            wait_until_up(f"{base}/healthz")
        except SystemExit:
            print(Path(f"{scratch.name}/server.log").read_text()[-3000:])
            raise

        # Floor 1, the server idle: Argon2id alone, the stored hash, one process per worker.
        argon2 = verifications_per_second(
            Chosen.memory_cost,
            Chosen.time_cost,
            Chosen.parallelism,
            processes=workers,
            seconds=args.floor_seconds,
            encoded=password_hash.removeprefix("argon2"),
        )
        print(f"  Argon2id alone, {workers} processes: {argon2:.1f} verifications/s", flush=True)

        count = min(args.count or len(members), len(members))
        # Warm every worker on members who are not measured (the last ones), then the day.
        warm, measured = members[count:][-concurrency * 2 :], members[:count]
        if len(warm) < concurrency:
            warm, measured = measured[-concurrency * 2 :], measured[: -concurrency * 2]
        warmed, _ = asyncio.run(
            peak(base, env["DATABASE_URL"], warm, month, concurrency=concurrency, duration=60)
        )
        print(f"  warm-up: {warmed.served} members, errors {dict(warmed.errors) or 0}", flush=True)
        server_before, client_before = server_cpu_seconds(server.pid), time.process_time()
        results, elapsed = asyncio.run(
            peak(
                base,
                env["DATABASE_URL"],
                measured,
                month,
                concurrency=concurrency,
                duration=args.duration,
            )
        )
        rate = results.served / elapsed
        server_cpu = server_cpu_seconds(server.pid) - server_before
        client_cpu = time.process_time() - client_before

        # Floors 2 and 3: the cached statement page (members who opened it) and /healthz.
        cookies = sessions_for(measured, min(500, max(results.served, 1)))
        page_rate, page_times, page_failures = asyncio.run(
            hammer(
                base,
                f"/statements/{month}/",
                cookies,
                concurrency=concurrency,
                seconds=args.floor_seconds,
            )
        )
        health_rate, health_times, health_failures = asyncio.run(
            hammer(base, "/healthz", [], concurrency=concurrency, seconds=args.floor_seconds)
        )

        print(f"  members served: {results.served:,} in {elapsed:.1f} s = {rate:.1f} members/s")
        print(f"  {'step':30} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}")
        page_steps = [s for s in results.times if not s.startswith("(")]
        for step, values in results.times.items():
            print(f"  {step:30} {len(values):7d} {_p(values, 50):8.1f} {_p(values, 99):8.1f}")
        print(f"  errors: {sum(results.errors.values())}")
        for kind, number in results.errors.most_common():
            print(f"    {number:6d}  {kind}")
        served = max(results.served, 1)
        print(
            f"  CPU per member served: meisai serve {server_cpu / served * 1000:.1f} ms (of which"
            f" one Argon2id verification), this load generator {client_cpu / served * 1000:.1f}"
            f" ms; wall clock × cores per member {elapsed * (os.cpu_count() or 1) / served * 1000:.1f}"
            " ms (the rest: PostgreSQL, Redis and the machine's other work)"
        )
        print("  floors of the same run:")
        print(f"    Argon2id verification alone ({workers} processes) {argon2:8.1f} /s")
        print(
            f"    cached statement page                  {page_rate:8.1f} req/s  p50"
            f" {_p(page_times, 50):.1f} ms  p99 {_p(page_times, 99):.1f} ms  failures {page_failures}"
        )
        print(
            f"    /healthz                               {health_rate:8.1f} req/s  p50"
            f" {_p(health_times, 50):.1f} ms  p99 {_p(health_times, 99):.1f} ms  failures"
            f" {health_failures}"
        )
        if args.profile:
            # One member at a time: the server's CPU between a request and its answer is that
            # step's (the scheduler's nanosecond count of every server thread).
            remaining = measured[results.served + sum(results.errors.values()) :]
            profiled, _ = asyncio.run(
                peak(
                    base,
                    env["DATABASE_URL"],
                    remaining[: args.profile],
                    month,
                    concurrency=1,
                    duration=120,
                    probe=lambda: server_on_cpu_seconds(server.pid),
                )
            )
            print(
                f"  server CPU per step, {profiled.served} members one at a time"
                f" (errors {sum(profiled.errors.values())}):"
            )
            for step, values in profiled.cpu.items():
                print(
                    f"    {step:30} mean {statistics.mean(values):6.1f} ms"
                    f"  wall p50 {_p(profiled.times[step], 50):6.1f} ms"
                )
        worst = max(_p(results.times[s], 99) for s in page_steps)
        errors = sum(results.errors.values())
        ok = rate >= FLOOR_RATIO * argon2 and worst < P99_LIMIT_MS and errors == 0
        print(
            f"  members/s / Argon2 alone: {rate / argon2:.2f} (floor ≥ {FLOOR_RATIO}), worst page p99"
            f" {worst:.1f} ms (< {P99_LIMIT_MS:.0f}), errors {errors} (0): "
            f"{'PASS' if ok else 'FAIL'}",
            flush=True,
        )
        if not ok:
            log = Path(f"{scratch.name}/server.log").read_text()
            print(f"  server log (last 3000 characters):\n{log[-3000:]}")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if not args.keep:
            from django.db import connections

            connections.close_all()
            recreate_database(args.database, drop_only=True)
            import redis

            redis.Redis.from_url(REDIS_URL).flushdb()
        scratch.cleanup()


if __name__ == "__main__":
    main()
