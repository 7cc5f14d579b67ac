"""A COPY goes through the database driver's own cursor; its errors must still be Django's, which
the services and commands catch (a connection killed mid-COPY printed a traceback from
``meisai publish`` instead of its one line; tests/production/test_faults.py kills it for real)."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from meisai.clock import now
from meisai.notifications.services import Email, email_enqueue_many

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's"),
]


def test_a_driver_error_during_the_outbox_copy_is_a_django_error(monkeypatch):
    import psycopg

    def connection_lost(self, row):
        raise psycopg.OperationalError("sending copy data failed: server closed the connection")

    monkeypatch.setattr(psycopg.Copy, "write_row", connection_lost)
    email = Email(
        key="alone",
        template="operators_month_not_closed",
        to="ops@issuer.example.jp",
        context={"month_label": "2025年6月請求分", "month": "2025-06"},
    )
    with pytest.raises(OperationalError):
        email_enqueue_many([email])


def test_a_driver_error_during_the_usage_copy_is_a_django_error(monkeypatch):
    import psycopg

    from meisai.imports.formats.usage.writing import CopyStream
    from meisai.imports.models import ImportBatch

    def connection_lost(self, data):
        raise psycopg.OperationalError("sending copy data failed: server closed the connection")

    monkeypatch.setattr(psycopg.Copy, "write", connection_lost)
    batch = ImportBatch.objects.create(
        kind="usage", file_name="u.csv", file_sha256="0" * 64, started_at=now()
    )
    with pytest.raises(OperationalError), CopyStream(batch) as stream:
        stream.write([])
