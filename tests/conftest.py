"""Shared fixtures. Data comes from ``tests.factories``."""

from __future__ import annotations

import socket

import pytest

from tests.factories import AccountFactory


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def account(db):
    """A member with a web account (tests that need a particular one define their own)."""
    return AccountFactory()


@pytest.fixture
def member_client(client, account):
    """A browser logged in as ``account``."""
    client.force_login(account)
    return client


#: Where the tests that need a real Redis find it (scripts/test starts one when it can).
REDIS_ADDRESS = ("127.0.0.1", 6379)


def _redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS_ADDRESS, timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``redis`` is skipped, saying why, when no Redis answers: a machine without
    one fails no test for that alone."""
    if item.get_closest_marker("redis") and not _redis_answers():
        pytest.skip(
            "Redis is not running on 127.0.0.1:6379 (install redis-server: scripts/test starts it)"
        )
