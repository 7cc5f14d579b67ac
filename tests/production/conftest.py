"""A real installation for the production tests: its own database (a SQLite file, or a fresh
PostgreSQL database when ``DATABASE_URL`` points at PostgreSQL), the real Redis on
127.0.0.1:6379 (database 7, flushed), real ``meisai worker`` processes and a local SMTP sink.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from bench.smtp_sink import SmtpSink

#: One Redis database per test process (pytest-xdist's ``gw0``, ``gw1``… get 7, 8…): the
#: fixtures below flush it, which must not empty another process's broker mid-test.
REDIS_URL = f"redis://127.0.0.1:6379/{7 + int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:])}"
ROOT = Path(__file__).resolve().parents[2]


def _database_url(tmp: Path) -> Iterator[str]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp / 'meisai.sqlite3'}"
        return
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/') or 'meisai'}_production_{os.getpid()}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Installation:
    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *args: str) -> object:
        """``python -m tests.production.driver …`` against this installation; its JSON."""
        result = subprocess.run(
            [sys.executable, "-m", "tests.production.driver", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start_worker(self, sink: SmtpSink) -> subprocess.Popen[bytes]:
        number = len(self.workers) + 1
        log = self.logs / f"worker{number}.log"
        env = {**self.env, "EMAIL_URL": sink.url}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meisai.cli",
                "worker",
                "--concurrency=2",
                f"--hostname=production-test-{number}@%h",
            ],
            env=env,
            cwd=ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            # Its own process group, so a kill reaches the pool's children as well.
            start_new_session=True,
        )
        self.workers.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b" ready." in log.read_bytes():
                return process
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError("worker not ready in 60 s:\n" + log.read_text()[-3000:])

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.workers.clear()


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    tmp = tmp_path_factory.mktemp("installation")
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    for database_url in _database_url(tmp):
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "MEISAI_TASKS_INLINE": "false",
            "MEISAI_LOG_FORMAT": "text",
            "MEISAI_MEDIA_ROOT": str(tmp / "media"),
            "PYTHONPATH": str(ROOT),
        }
        migrate = subprocess.run(
            [sys.executable, "-m", "meisai.cli", "migrate", "--no-input"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        installed = Installation(env=env, logs=tmp)
        try:
            yield installed
        finally:
            installed.stop_workers()
            broker.flushdb()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


# The sender's tests (test_sender.py, test_sender_pipelined.py).


@pytest.fixture
def smtp(settings):
    def use(sink_port: int) -> None:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = sink_port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 5

    return use


@pytest.fixture
def queued_only(monkeypatch):
    """Outside a test's transaction the queue commits at once and would kick the sender
    (inline in tests): here the test runs the sender itself."""
    from meisai.notifications import services

    monkeypatch.setattr(services, "outbox_kick", lambda: None)
