"""The Prometheus metrics (docs/deployment.md, "Metrics"), read the way Prometheus reads them:
``GET /metrics`` with the bearer token, parsed from the text format."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from meisai.clock import now
from meisai.core.jobs import job_run
from meisai.core.metrics import outbox_depth
from meisai.notifications.models import OutboxMessage
from meisai.notifications.sender import outbox_send_due
from tests.accounts.conftest import FACTORY_PASSWORD, log_in
from tests.core.test_settings import PRODUCTION
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

TOKEN = "prometheus-scrape-token-0123456789abcdef"


@pytest.fixture
def token(settings):
    settings.MEISAI_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return samples_of(response.content.decode())


def samples_of(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- not public ---------------------------------------------------------------------------------


def test_without_a_configured_token_there_are_no_metrics(client, settings):
    settings.MEISAI_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    ["", f"Basic {TOKEN}", "Bearer wrong", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", "Bearer"],
)
def test_without_the_token_the_metrics_are_refused(client, token, authorization):
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"meisai_" not in response.content


def test_with_the_token_the_metrics_answer_in_prometheus_format(client, token):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "meisai_http_request_duration_seconds",
        "meisai_logins",
        "meisai_throttled",
        "meisai_lockouts",
        "meisai_mail_sent",
        "meisai_job_duration_seconds",
        "meisai_job_failures",
        "meisai_outbox_depth",
    } <= names
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


# --- requests -----------------------------------------------------------------------------------


def test_a_requests_latency_lands_under_its_route_name_never_its_path(client, token):
    before = scrape()
    client.get("/statements/2025-05/")  # a visitor: sent to the login page
    client.get("/login/")
    client.get("/no/such/page/2025-05/")
    after = scrape()

    def count(route: str, status: str) -> float:
        name = "meisai_http_request_duration_seconds_count"
        labels = {"route": route, "method": "GET", "status": status}
        return value(after, name, **labels) - value(before, name, **labels)

    assert count("statements:detail", "3xx") == 1
    assert count("accounts:login", "2xx") == 1
    assert count("unmatched", "4xx") == 1
    # Into a bucket: the +Inf bucket counts it, the sum grew by its time.
    inf = ("meisai_http_request_duration_seconds_bucket", "accounts:login", "2xx")
    labels = {"route": inf[1], "method": "GET", "status": inf[2], "le": "+Inf"}
    assert value(after, inf[0], **labels) - value(before, inf[0], **labels) == 1
    routes = {dict(labels).get("route") for _, labels in after}
    assert not any(route and ("/" in route or "2025" in route) for route in routes)


# --- logins, throttles, lockouts ----------------------------------------------------------------


def test_a_login_a_failed_login_and_a_lockout_move_their_counters(client, token):
    AccountFactory(login_id="iwate.taro", email="taro@example.jp")
    before = scrape()

    log_in(client, "iwate.taro", FACTORY_PASSWORD, "taro@example.jp")
    other = Client()
    for _ in range(10):  # the tenth locks the ID (SPEC 3.5)
        other.post("/login/", {"username": "iwate.taro", "password": "wrong-password"})
    other.post("/login/", {"username": "iwate.taro", "password": FACTORY_PASSWORD})

    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("meisai_logins_total", result="success", site="member") == 1
    assert moved("meisai_logins_total", result="failed", site="member") == 9
    # The tenth failure and the try during the lock.
    assert moved("meisai_logins_total", result="locked", site="member") == 2
    assert moved("meisai_lockouts_total", lock="login") == 1


def test_a_throttled_request_moves_the_throttle_counter(client, token, monkeypatch):
    from meisai.accounts import throttles

    monkeypatch.setitem(throttles.THROTTLES, "login_failure", (2, dt.timedelta(hours=1)))
    before = scrape()
    for n in range(3):
        client.post("/login/", {"username": f"guess.{n}", "password": "x"})
    after = scrape()
    name, labels = "meisai_throttled_total", {"throttle": "login_failure"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1


# --- the outbox ---------------------------------------------------------------------------------


def _message(n: int, status: str, *, due_in_minutes: int = 0) -> OutboxMessage:
    return OutboxMessage.objects.create(
        key=f"metrics:{n}",
        template="statement_published",
        to=f"member{n}@example.jp",
        subject="件名",
        stored_text="本文",
        status=status,
        next_attempt_at=now() + dt.timedelta(minutes=due_in_minutes),
        created_at=now(),
    )


def test_the_outbox_depth_is_the_number_of_emails_waiting(token):
    OutboxMessage.objects.all().delete()
    for n in range(3):
        _message(n, OutboxMessage.Status.PENDING)
    _message(3, OutboxMessage.Status.PENDING, due_in_minutes=4)  # deferred after a refusal
    _message(4, OutboxMessage.Status.SENT)
    _message(5, OutboxMessage.Status.FAILED)

    assert value(scrape(), "meisai_outbox_depth") == 4
    OutboxMessage.objects.filter(key="metrics:0").update(status=OutboxMessage.Status.SENT)
    assert value(scrape(), "meisai_outbox_depth") == 3


def test_above_the_exact_bound_the_depth_is_never_below_it(monkeypatch):
    from meisai.core import metrics

    OutboxMessage.objects.all().delete()
    for n in range(5):
        _message(n, OutboxMessage.Status.PENDING)
    monkeypatch.setattr(metrics, "DEPTH_EXACT_UP_TO", 2)
    depth = outbox_depth()
    if connection.vendor == "postgresql":
        # The planner's estimate, never below what was counted exactly (the bound plus one).
        assert depth >= 3
    else:
        assert depth == 5  # the embedded database counts everything


def test_each_email_the_sender_delivers_is_counted(token):
    OutboxMessage.objects.all().delete()
    for n in range(3):
        _message(n, OutboxMessage.Status.PENDING)
    _message(3, OutboxMessage.Status.PENDING, due_in_minutes=4)  # not due: not sent
    before = scrape()
    assert outbox_send_due().sent == 3
    after = scrape()
    assert value(after, "meisai_mail_sent_total") - value(before, "meisai_mail_sent_total") == 3
    assert value(after, "meisai_outbox_depth") == 1


# --- jobs ---------------------------------------------------------------------------------------


def test_a_jobs_duration_and_a_failing_jobs_failure_are_counted(token):
    before = scrape()
    with job_run(kind="metrics_check"):
        pass
    with pytest.raises(ValueError), job_run(kind="metrics_check"):
        raise ValueError("the file is not CP932")
    after = scrape()

    def moved(name: str) -> float:
        return value(after, name, kind="metrics_check") - value(before, name, kind="metrics_check")

    assert moved("meisai_job_duration_seconds_count") == 2
    assert moved("meisai_job_failures_total") == 1
    assert moved("meisai_job_duration_seconds_sum") >= 0


# --- production ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "starts"), [("short-token", False), ("t" * 32, True)])
def test_production_refuses_a_metrics_token_shorter_than_32_characters(token, starts, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        PRODUCTION,
        MEISAI_METRICS_TOKEN=token,
        DJANGO_SETTINGS_MODULE="meisai.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'meisai.sqlite3'}",
        MEISAI_STATIC_ROOT=str(tmp_path / "static"),
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (result.returncode == 0) is starts, result.stderr[-2000:]
    if not starts:
        assert "MEISAI_METRICS_TOKEN is shorter than 32 characters" in result.stderr
