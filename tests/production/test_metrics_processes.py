"""Metrics from many processes (docs/deployment.md, "Metrics"): the real ``meisai serve``
(gunicorn, its workers recycled under load) and a real ``meisai worker`` (Celery prefork) on
the real Redis, scraped over HTTP with the bearer token as Prometheus does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from bench.smtp_sink import free_port
from prometheus_client.parser import text_string_to_metric_families

from tests.production.test_processes import ROOT, production_env  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow

TOKEN = "prometheus-scrape-token-0123456789abcdef"


def _scrape(url: str, *, token: str | None = TOKEN) -> tuple[int, dict[tuple, float]]:
    headers = {"Host": "meisai.example.jp"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - local
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        return error.code, {}
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return status, samples


def _get(url: str) -> int:
    request = urllib.request.Request(url, headers={"Host": "meisai.example.jp"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - local
        return response.status


def _wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            _get(url)
            return
        except OSError:
            assert process.poll() is None, f"{what} ended"
            assert time.monotonic() < deadline, f"{what} did not answer in 60 s"
            time.sleep(0.3)


def _healthz_count(samples: dict[tuple, float]) -> float:
    labels = frozenset({"route": "core:healthz", "method": "GET", "status": "2xx"}.items())
    return samples.get(("meisai_http_request_duration_seconds_count", labels), 0.0)


def test_serve_sums_the_requests_of_every_gunicorn_process_recycled_ones_too(
    production_env,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**production_env, "MEISAI_METRICS_TOKEN": TOKEN, "TMPDIR": str(temporary)}
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meisai.cli",
            "serve",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            "--threads=1",
            # Each process ends after 5 requests: 12 are served by at least 3 processes.
            "--",
            "--max-requests=5",
            "--max-requests-jitter=0",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("wb"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", server, "meisai serve")
        for _ in range(11):
            assert _get(f"{base}/healthz") == 200
        # Without the token, or with another, nothing.
        assert _scrape(f"{base}/metrics", token=None)[0] == 401
        assert _scrape(f"{base}/metrics", token="x" * 40)[0] == 401
        status, samples = _scrape(f"{base}/metrics")
        assert status == 200
        assert _healthz_count(samples) == 12

        # The values were written by many processes, into one directory of this server.
        (directory,) = temporary.glob("meisai-metrics-web-*")
        pids = {path.stem.rsplit("_", 1)[-1] for path in directory.glob("histogram_*.db")}
        assert len(pids) >= 3, sorted(pids)
        assert "Booting worker" in (tmp_path / "serve.log").read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # gunicorn removed it on its way out: the next start begins from zero.
    assert list(temporary.glob("meisai-metrics-web-*")) == []


@pytest.mark.redis
def test_a_workers_jobs_and_mail_are_scraped_from_its_metrics_address(installation, sink):
    port = free_port()
    installation.env.update(
        {"MEISAI_METRICS_TOKEN": TOKEN, "MEISAI_WORKER_METRICS_BIND": f"127.0.0.1:{port}"}
    )
    worker = installation.start_worker(sink)
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 30
    while _scrape_status(url) is None:
        assert worker.poll() is None and time.monotonic() < deadline, "no metrics address"
        time.sleep(0.3)

    assert _scrape(url, token=None)[0] == 401
    assert _scrape(url, token="y" * 40)[0] == 401

    cycle = installation.run("cycle", "--prefix", "M", "--members", "6", "--month", "2025-07")
    assert cycle["statements"] == 6
    assert sink.wait_for(6, timeout=90)
    # The sender's job ends just after its last mail arrives.
    deadline = time.monotonic() + 30
    while True:
        status, samples = _scrape(url)
        sent = samples.get(("meisai_mail_sent_total", frozenset()), 0.0)
        publish = samples.get(
            ("meisai_job_duration_seconds_count", frozenset({"kind": "publish"}.items())), 0.0
        )
        if (sent, publish) == (6.0, 1.0) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200
    assert (sent, publish) == (6.0, 1.0)
    sending = samples.get(
        ("meisai_job_duration_seconds_count", frozenset({"kind": "outbox_send"}.items())), 0.0
    )
    assert sending >= 1
    assert samples[("meisai_outbox_depth", frozenset())] == 0
    installation.stop_workers()


def _scrape_status(url: str) -> int | None:
    try:
        return _scrape(url)[0]
    except OSError:
        return None
