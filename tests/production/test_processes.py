"""The production commands as processes (docs/deployment.md): ``collectstatic`` with the production
storage, ``meisai serve`` answering health checks and static files, ``meisai scheduler``
starting beat with meisai's schedule."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from bench.smtp_sink import free_port

from tests.production.conftest import REDIS_URL

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "MEISAI_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "CARD_HASH_KEY": secrets.token_urlsafe(48),
        "MEISAI_ALLOWED_HOSTS": "meisai.example.jp",
        "MEISAI_BASE_URL": "https://meisai.example.jp",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'meisai.sqlite3'}",
        "MEISAI_STATIC_ROOT": str(tmp_path / "static"),
        "REDIS_URL": REDIS_URL,
        # Production refuses mail that stays in the log; the tests send nothing.
        "EMAIL_URL": "smtp://127.0.0.1:25",
        # The static-file check below comes "through the proxy" with X-Forwarded-Proto.
        "MEISAI_TRUSTED_PROXIES": "1",
    }


def _meisai(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meisai.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Host": "meisai.example.jp", **headers})
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local server
        return response.status, dict(response.headers), response.read()


def test_serve_answers_health_checks_and_hashed_static_files(production_env):
    collected = _meisai(production_env, "collectstatic", "--no-input")
    assert collected.returncode == 0, collected.stderr
    manifest = json.loads(
        (Path(production_env["MEISAI_STATIC_ROOT"]) / "staticfiles.json").read_text()
    )
    site_css = manifest["paths"]["meisai/site.css"]
    assert site_css.startswith("meisai/site.") and site_css != "meisai/site.css"

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "meisai.cli", "serve", f"--bind=127.0.0.1:{port}", "--workers=1"],
        env=production_env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, headers, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "meisai serve did not answer in 30 s"
                time.sleep(0.3)
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert len(headers["X-Request-ID"]) == 32
        status, _, body = _get(f"http://127.0.0.1:{port}/readyz")
        assert (status, json.loads(body)["checks"]) == (200, {"database": "ok", "broker": "ok"})
        status, headers, body = _get(
            f"http://127.0.0.1:{port}/static/{site_css}", **{"X-Forwarded-Proto": "https"}
        )
        assert status == 200
        assert headers["Content-Type"].startswith("text/css")
        assert "immutable" in headers["Cache-Control"]
        assert body == (ROOT / "src/meisai/static/meisai/site.css").read_bytes()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.redis
def test_scheduler_starts_beat_with_meisais_schedule(production_env, tmp_path):
    schedule_file = tmp_path / "beat" / "schedule"
    log = tmp_path / "beat.log"
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meisai.cli",
            "scheduler",
            f"--schedule-file={schedule_file}",
            "--loglevel=DEBUG",
        ],
        env={**production_env, "MEISAI_LOG_FORMAT": "text"},
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while b"outbox-retry" not in log.read_bytes():
            assert beat.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=30)
    text = log.read_text()
    assert "beat: Starting" in text
    for entry in ("confirmation-day", "outbox-retry", "sessions-clear", "tokens-clear"):
        assert entry in text
    assert schedule_file.parent.is_dir()


def test_worker_and_scheduler_refuse_to_start_without_redis(production_env):
    env = {k: v for k, v in production_env.items() if k != "REDIS_URL"}
    for command in ("worker", "scheduler"):
        result = _meisai(env, command)
        assert result.returncode == 1
        assert "REDIS_URL が設定されていません" in result.stderr
