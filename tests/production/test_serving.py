"""Serving: health checks, request ids, the server command (docs/deployment.md)."""

from __future__ import annotations

import sys

import pytest
from bench.smtp_sink import free_port

from meisai.core.management.commands.serve import gunicorn_argv


@pytest.mark.django_db
def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_inline_tasks_database_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "inline"}}


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_with_the_real_redis(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/7"
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_away(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "unavailable"},
    }


def test_request_id_is_made_and_returned(client):
    first = client.get("/healthz")
    second = client.get("/healthz")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_well_formed_incoming_request_id_is_kept(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")
    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"


@pytest.mark.parametrize("incoming", ["short", "has space in it", "x" * 65, "<script>alert(1)"])
def test_malformed_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_request_log_line_carries_the_request_id(client, caplog):
    with caplog.at_level("INFO", logger="meisai.request"):
        response = client.get("/healthz?token=secret-token-value", HTTP_X_REQUEST_ID="req-00000042")
    [record] = [r for r in caplog.records if r.name == "meisai.request"]
    assert response["X-Request-ID"] == "req-00000042"
    assert record.getMessage() == "GET /healthz 200"
    assert (record.method, record.path, record.status) == ("GET", "/healthz", 200)
    assert record.request_id == "req-00000042"


def test_serve_runs_gunicorn_with_threaded_workers():
    assert gunicorn_argv(bind="0.0.0.0:8000", workers=3, threads=16) == [
        sys.executable,
        "-m",
        "gunicorn",
        "meisai.wsgi:application",
        "--bind=0.0.0.0:8000",
        "--worker-class=gthread",
        "--workers=3",
        "--threads=16",
        "--timeout=30",
        "--graceful-timeout=30",
        "--keep-alive=5",
        "--max-requests=5000",
        "--max-requests-jitter=500",
        "--error-logfile=-",
    ]


@pytest.mark.django_db
def test_request_log_masks_the_token_of_an_emailed_link(client, caplog):
    token = "AbCdEf0123456789-secret-link"
    with caplog.at_level("INFO", logger="meisai.request"):
        client.get(f"/login/reset/{token}/")
    [record] = [r for r in caplog.records if r.name == "meisai.request"]
    assert token not in record.getMessage()
    assert record.path == "/login/reset/[token]/"
