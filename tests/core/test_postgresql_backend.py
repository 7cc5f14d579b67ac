"""The PostgreSQL connection's health check (``meisai.core.postgresql``): a kept connection in
good health is found usable without a query; one the server has ended is found unusable, and
the next request's query runs on a new connection."""

from __future__ import annotations

import select
import time

import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection

from meisai.members.models import Member

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's connections"),
    # Outside a test transaction: the check runs on the connection as a request finds it.
    pytest.mark.django_db(transaction=True),
]


def _terminated_by_the_server() -> None:
    """End this connection's backend from another session, as a restart or an operator would,
    and wait until its close has reached this side."""
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "autocommit": True}) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    socket = connection.connection.pgconn.socket
    deadline = time.monotonic() + 5
    poller = select.poll()
    poller.register(socket, select.POLLIN)
    while not poller.poll(50):
        assert time.monotonic() < deadline, "the server's close never arrived"


def test_the_engine_is_the_one_with_this_check():
    assert settings.DATABASES["default"]["ENGINE"] == "meisai.core.postgresql"
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def test_a_healthy_idle_connection_is_usable_without_a_query(monkeypatch):
    connection.ensure_connection()

    def no_query(*args, **kwargs):
        raise AssertionError("the health check sent a query")

    monkeypatch.setattr(connection.connection, "cursor", no_query)
    monkeypatch.setattr(connection.connection, "execute", no_query)

    assert connection.is_usable() is True


def test_a_connection_inside_a_transaction_is_checked_by_a_query(monkeypatch):
    connection.ensure_connection()
    connection.connection.execute("BEGIN")
    sent: list[str] = []
    cursor = connection.connection.cursor

    def counted(*args, **kwargs):
        sent.append("cursor")
        return cursor(*args, **kwargs)

    monkeypatch.setattr(connection.connection, "cursor", counted)
    try:
        usable = connection.is_usable()
        checked = list(sent)
    finally:
        connection.connection.execute("ROLLBACK")

    assert usable is True
    assert checked == ["cursor"]  # Django's SELECT 1


def test_a_connection_the_server_ended_is_unusable():
    connection.ensure_connection()
    _terminated_by_the_server()

    assert connection.is_usable() is False


def test_the_next_request_after_the_server_ended_the_connection_gets_a_new_one():
    Member.objects.count()
    old_pid = connection.connection.info.backend_pid
    _terminated_by_the_server()

    # What Django does at the end and the start of a request, then the request's first query.
    close_old_connections()
    assert Member.objects.count() == 0

    assert connection.connection.info.backend_pid != old_pid
