"""Faults leave nothing half-done: PostgreSQL kills the connection of an import, a close or a
publish in the middle of its work (``pg_terminate_backend``, what a server restart does to
every client), and the operator gets one clear line and a non-zero exit, the database holds
nothing partial, the run is recorded as failed (never "running"), and running it again gives
every figure an uninterrupted run gives on a twin database.

The commands run as real ``meisai`` processes against a throwaway database of their own; the
test finds their backend in ``pg_stat_activity`` by its application name (``PGAPPNAME``) and
the statement it is running, and terminates it. The work is big enough (a usage file of 30,000
lines for 3,000 members, all with a web account) for the kill to land while it is still busy:
no lock or ``pg_sleep`` is needed to hold it there.

The four tests are the steps of one month (import, close, publish) and run in this order, each
on the state the one before left; the twin database takes the same steps uninterrupted.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="pg_terminate_backend kills a PostgreSQL backend: needs DATABASE_URL=postgres://…",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
MONTH = "2025-04"
MEMBERS = 3000
LINES_PER_MEMBER = 10
#: How the test finds the backends of the commands it runs (libpq reads ``PGAPPNAME``).
VICTIM = "meisai-fault-victim"
#: The close's statement insert (a CTE whose INSERT comes after the first kilobyte) and the
#: reconciliation that reads the statements back, both inside the close's transaction.
CLOSE_WRITES = r"charged AS MATERIALIZED|FROM statements_statement WHERE billing_month"
#: Every member gets a web account (the enrolment import strengthens each legacy hash, seconds
#: per thousand: too slow for a fixture), with the same password hash, stored directly.
ACCOUNTS = """
import django
django.setup()
from django.contrib.auth.hashers import make_password
from meisai.accounts.models import Account
from meisai.members.models import Member
password = make_password("correct-horse-battery")
Account.objects.bulk_create(
    Account(login_id=f"fault.user{m.pk}", member=m, email=m.email, password=password)
    for m in Member.objects.order_by("pk")
)
"""


@dataclass
class Database:
    name: str
    url: str
    env: dict[str, str]

    def meisai(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "meisai.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "meisai.cli", *args],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
        assert row is not None
        return tuple(row)

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return [tuple(row) for row in conn.execute(sql, params).fetchall()]


@dataclass
class World:
    faulty: Database
    twin: Database
    usage: Path


def _write_files(directory: Path) -> dict[str, Path]:
    rng = random.Random(20250409)  # noqa: S311 — reproducible test data
    products = directory / "products.csv"
    products.write_text("product_code,name,program_excluded\nSTD,日専連カード,0\n", "utf-8")
    members = directory / "members.csv"
    usage = directory / f"usage-{MONTH}.csv"
    with members.open("w", encoding="utf-8") as m:
        m.write(
            "member_no,card_no,card_expiry,product_code,name_kanji,name_kana,birth_date,"
            "postal_code,address,phone_home,phone_mobile,email,status,cancelled_on,fee_exempt,"
            "paper_required\n"
        )
        for n in range(1, MEMBERS + 1):
            m.write(
                f"F{n:07d},4980{n:012d},2029-12,STD,盛岡 太郎{n},モリオカ タロウ,1970-01-01,"
                f"020-0021,岩手県盛岡市中央通{n % 9 + 1}-1-1,,090{n:08d},f{n}@example.jp,active,,"
                f"0,{1 if n % 7 == 0 else 0}\n"
            )
    with usage.open("w", encoding="utf-8") as out:
        out.write(
            "member_no,billing_month,line_no,use_date,merchant,user,payment_type,installment,"
            "use_amount,billed_amount,note\n"
        )
        for n in range(1, MEMBERS + 1):
            for line_no in range(1, LINES_PER_MEMBER + 1):
                amount = rng.randint(-20, 600) * 100
                out.write(
                    f"F{n:07d},{MONTH},{line_no},2025-03-{rng.randint(1, 28):02d},"
                    f"盛岡中央スーパー,本人,1回,,{amount},{amount},\n"
                )
    return {"products": products, "members": members, "usage": usage}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Two databases with the same members and web accounts: one whose commands get killed and
    its twin, cloned from it (``CREATE DATABASE … TEMPLATE``), that runs them uninterrupted."""
    tmp = tmp_path_factory.mktemp("faults")
    files = _write_files(tmp)
    parts = urlsplit(os.environ["DATABASE_URL"])
    base = f"{parts.path.lstrip('/') or 'meisai'}_faults_{os.getpid()}"
    names = (base, f"{base}_twin")
    admin = urlunsplit(parts._replace(path="/postgres"))

    def database(name: str) -> Database:
        url = urlunsplit(parts._replace(path=f"/{name}"))
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "PGAPPNAME": VICTIM,
            "PYTHONPATH": str(ROOT),
            # --queue runs the job in the command itself, so the job record is seen here.
            "MEISAI_TASKS_INLINE": "true",
            # Nothing listens there: the queued mail stays in the outbox, to be counted.
            "EMAIL_URL": "smtp://127.0.0.1:9",
            "MEISAI_LOG_FORMAT": "text",
            "MEISAI_LOG_LEVEL": "WARNING",
            "MEISAI_MEDIA_ROOT": str(tmp / name),
        }
        return Database(name=name, url=url, env=env)

    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{base}"')
    faulty, twin = database(names[0]), database(names[1])
    try:
        for args in (
            ("migrate", "--no-input", "-v0"),
            ("import", "products", str(files["products"]), "-v0"),
            ("import", "members", str(files["members"]), "-v0"),
        ):
            done = faulty.meisai(*args, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
        accounts = subprocess.run(
            [sys.executable, "-c", ACCOUNTS],
            env={**faulty.env, "DJANGO_SETTINGS_MODULE": "meisai.settings"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert accounts.returncode == 0, accounts.stderr[-3000:]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{twin.name}" TEMPLATE "{faulty.name}"')
        yield World(faulty=faulty, twin=twin, usage=files["usage"])
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _kill_when(
    database: Database, process: subprocess.Popen[str], query_like: str, *, timeout: float = 60
) -> str:
    """Terminate the backend of ``process`` once it is running a statement like
    ``query_like`` (a regular expression; or idle inside the transaction right after it);
    return that statement. PostgreSQL shows the first 1 kB of a statement only
    (``track_activity_query_size``): the pattern must match near its start."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database.url, autocommit=True) as watcher:
        while time.monotonic() < deadline:
            row = watcher.execute(
                "SELECT pid, query FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()"
                " AND state IN ('active', 'idle in transaction') AND query ~* %s",
                (database.name, VICTIM, query_like),
            ).fetchone()
            if row is not None:
                killed = watcher.execute("SELECT pg_terminate_backend(%s)", (row[0],)).fetchone()
                assert killed == (True,)
                return str(row[1])
            assert process.poll() is None, (
                f"the command ended before it ran {query_like!r}:\n{process.communicate()}"
            )
            time.sleep(0.005)
    raise AssertionError(f"no statement like {query_like!r} in {timeout} s")


def _killed(
    database: Database, args: tuple[str, ...], query_like: str
) -> tuple[int, str, str, str]:
    process = database.start(*args)
    try:
        statement = _kill_when(database, process, query_like)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stdout, stderr, statement


def _assert_one_line_failure(returncode: int, stderr: str) -> str:
    assert returncode != 0
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    # A warning of the logs may come before it; the operator's message is the last line.
    assert lines, "no message on stderr"
    return lines[-1]


def _usage_figures(database: Database) -> tuple[Any, ...]:
    return database.one(
        "SELECT COUNT(*), COALESCE(SUM(billed_amount), 0), COUNT(DISTINCT member_id)"
        " FROM statements_usageline WHERE billing_month = %s",
        (MONTH,),
    )


def _statement_figures(database: Database) -> tuple[Any, ...]:
    return database.one(
        "SELECT COUNT(*), COALESCE(SUM(total), 0), COALESCE(SUM(fee_total), 0),"
        " COALESCE(SUM(line_count), 0), COUNT(*) FILTER (WHERE delivery = 'paper'),"
        " COUNT(published_at) FROM statements_statement WHERE billing_month = %s",
        (MONTH,),
    )


def _month_close(database: Database) -> list[tuple[Any, ...]]:
    return database.all(
        "SELECT status, statements, statement_total, fee_total, published_at IS NOT NULL"
        " FROM statements_monthclose WHERE billing_month = %s",
        (MONTH,),
    )


def _outbox(database: Database) -> tuple[Any, ...]:
    return database.one(
        'SELECT COUNT(*), COUNT(DISTINCT key), COUNT(DISTINCT "to")'
        " FROM notifications_outboxmessage WHERE key LIKE %s",
        (f"statement_confirmed:{MONTH}:%",),
    )


def test_import_killed_mid_copy_keeps_nothing_and_runs_again(world: World) -> None:
    faulty, twin, usage = world.faulty, world.twin, str(world.usage)

    returncode, _, stderr, statement = _killed(faulty, ("import", "usage", usage), "^COPY ")

    assert "COPY" in statement.upper()
    last = _assert_one_line_failure(returncode, stderr)
    assert "nothing was imported" in last
    assert _usage_figures(faulty) == (0, 0, 0)
    assert faulty.all("SELECT status FROM imports_importbatch WHERE kind = 'usage'") == [
        ("failed",)
    ]

    again = faulty.meisai("import", "usage", usage, "-v0")
    uninterrupted = twin.meisai("import", "usage", usage, "-v0")

    assert again.returncode == 0, again.stderr[-3000:]
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    assert _usage_figures(faulty) == _usage_figures(twin)
    assert _usage_figures(faulty)[0] == MEMBERS * LINES_PER_MEMBER
    batches = (
        "SELECT status, rows, inserted FROM imports_importbatch WHERE kind = 'usage' ORDER BY id"
    )
    assert faulty.all(batches) == [
        ("failed", 0, 0),
        *twin.all(batches),
    ]


def test_close_job_killed_mid_insert_is_recorded_failed(world: World) -> None:
    faulty = world.faulty

    returncode, _, stderr, statement = _killed(
        faulty,
        ("close", MONTH, "--actor", "op-fault", "--queue"),
        CLOSE_WRITES,
    )

    assert "statements_statement" in statement or "charged" in statement
    last = _assert_one_line_failure(returncode, stderr)
    assert MONTH[:4] in last
    assert _statement_figures(faulty) == (0, 0, 0, 0, 0, 0)
    assert faulty.all("SELECT kind, status FROM core_job") == [("close", "failed")]
    assert faulty.all("SELECT status FROM statements_monthclose") in ([], [("failed",)])


def test_close_killed_mid_insert_keeps_nothing_and_runs_again(world: World) -> None:
    faulty, twin = world.faulty, world.twin

    returncode, _, stderr, _ = _killed(
        faulty, ("close", MONTH, "--actor", "op-fault"), CLOSE_WRITES
    )

    last = _assert_one_line_failure(returncode, stderr)
    assert "確定していません" in last
    assert _statement_figures(faulty) == (0, 0, 0, 0, 0, 0)
    assert faulty.one("SELECT COUNT(*) FROM statements_monthclose WHERE status <> 'failed'") == (0,)
    assert _month_close(faulty) == [("failed", 0, 0, 0, False)]

    again = faulty.meisai("close", MONTH, "--actor", "op-fault")
    uninterrupted = twin.meisai("close", MONTH, "--actor", "op-fault")

    assert again.returncode == 0, again.stderr[-3000:]
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    assert _statement_figures(faulty) == _statement_figures(twin)
    assert _statement_figures(faulty)[0] == MEMBERS
    assert _month_close(faulty) == _month_close(twin)
    assert _month_close(faulty)[0][0] == "confirmed"


def test_publish_killed_mid_outbox_keeps_nothing_and_runs_again(world: World) -> None:
    faulty, twin = world.faulty, world.twin

    returncode, _, stderr, statement = _killed(
        faulty, ("publish", MONTH, "--actor", "op-fault"), "outbox"
    )

    assert "outbox" in statement
    last = _assert_one_line_failure(returncode, stderr)
    assert MONTH[:4] in last
    assert _outbox(faulty) == (0, 0, 0)
    assert _statement_figures(faulty)[5] == 0  # no statement published
    assert _month_close(faulty)[0][4] is False

    again = faulty.meisai("publish", MONTH, "--actor", "op-fault")
    uninterrupted = twin.meisai("publish", MONTH, "--actor", "op-fault")
    once_more = faulty.meisai("publish", MONTH, "--actor", "op-fault")

    assert again.returncode == 0, again.stderr[-3000:]
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    assert once_more.returncode == 0, once_more.stderr[-3000:]
    assert _outbox(faulty) == _outbox(twin) == (MEMBERS, MEMBERS, MEMBERS)
    assert _statement_figures(faulty) == _statement_figures(twin)
    assert _statement_figures(faulty)[5] == MEMBERS
    assert _month_close(faulty) == _month_close(twin)
