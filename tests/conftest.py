"""Shared fixtures. Data comes from ``tests.factories``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import django.test.utils
import pytest
from django.db import connections

from meisai.core.database_roles import application_role, owner_connection
from tests.factories import AccountFactory


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings: None) -> Iterator[None]:
    """Two roles (``MEISAI_MIGRATE_DATABASE_URL`` set, as ``.ci/run`` does): the test database is
    created, migrated and dropped as the owner, and the tests connect as the application role,
    as production does. pytest-django's ``django_db_setup`` runs after this fixture and calls
    Django's ``setup_databases`` and ``teardown_databases``: here they get the owner's connection.
    (Transactional tests end with ``flush``, which connects as the owner by itself.)"""
    if application_role() is None:
        yield
        return
    setup, teardown = django.test.utils.setup_databases, django.test.utils.teardown_databases

    def setup_as_owner(*args: Any, **kwargs: Any) -> Any:
        with owner_connection():
            return setup(*args, **kwargs)

    def teardown_as_owner(*args: Any, **kwargs: Any) -> Any:
        # The application's connection would keep the database in use: DROP DATABASE waits.
        connections.close_all()
        return teardown(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(django.test.utils, "setup_databases", setup_as_owner)
        patch.setattr(django.test.utils, "teardown_databases", teardown_as_owner)
        yield


@pytest.fixture(scope="session", autouse=True)
def _children_use_their_own_database_url() -> Iterator[None]:
    """Tests start children (``meisai`` commands, workers) with a ``DATABASE_URL`` of their own:
    a SQLite file or a fresh database, which this run's owner URL does not name (config.py
    refuses such a pair). The children run as the one role of their ``DATABASE_URL``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MEISAI_MIGRATE_DATABASE_URL", raising=False)
        yield


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
