"""The database driver's own cursor, for what Django's cursor does not offer (psycopg's COPY).

Django turns every driver error of its own queries into ``django.db`` errors (``DatabaseError``,
``OperationalError`` …), which is what the services and commands catch. A query on the driver's
cursor would raise psycopg's own classes past them — a connection killed during a COPY then
printed a traceback instead of the command's one line. Every use of the driver's cursor goes
through here, so its errors are Django's too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection


@contextmanager
def raw_cursor() -> Iterator[Any]:
    """The driver's cursor of the default connection, its errors raised as Django's."""
    with connection.cursor() as django_cursor, connection.wrap_database_errors:
        yield django_cursor.cursor


def as_django_errors() -> Any:
    """For work on a driver cursor held across calls (a COPY fed chunk by chunk)."""
    return connection.wrap_database_errors
