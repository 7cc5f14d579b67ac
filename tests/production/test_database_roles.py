"""The application cannot erase its own records (docs/deployment.md, "The two database roles").

On PostgreSQL with two roles — ``DATABASE_URL`` the application's, ``MEISAI_MIGRATE_DATABASE_URL``
the owner's, as ``.ci/run`` runs the suite — the tests connect as the application role, on a
database the owner created and migrated (tests/conftest.py). Connected so, the audit trail, the
statements and the usage lines can be read and written row by row, and the database refuses to
truncate them, to disable their triggers and to drop them: the application owns nothing and has
no TRUNCATE privilege.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import ProgrammingError, connection, transaction

from meisai.audit.models import AuditEntry
from meisai.audit.services import audit_record
from meisai.core.database_roles import application_role
from meisai.statements.models import Statement, UsageLine
from tests.factories import StatementFactory, UsageLineFactory

_TWO_ROLES = [
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="database roles are PostgreSQL's (SQLite has none)",
    ),
    pytest.mark.skipif(
        application_role() is None,
        reason="one database role: set MEISAI_MIGRATE_DATABASE_URL to the owner's URL and "
        "DATABASE_URL to the application role's (.ci/run does)",
    ),
    pytest.mark.django_db,
]


def two_roles(test: Any) -> Any:
    """Runs on PostgreSQL with two roles, connected as the application role; skipped, saying
    why, elsewhere."""
    for mark in _TWO_ROLES:
        test = mark(test)
    return test


#: SQLSTATE 42501, insufficient_privilege: "must be owner of table", "permission denied".
INSUFFICIENT_PRIVILEGE = "42501"

#: The records the application writes and must never be able to erase.
PROTECTED = [
    pytest.param(AuditEntry, id="audit_auditentry"),
    pytest.param(Statement, id="statements_statement"),
    pytest.param(UsageLine, id="statements_usageline"),
]

ERASING = [
    "TRUNCATE {table}",
    "TRUNCATE {table} CASCADE",
    "ALTER TABLE {table} DISABLE TRIGGER ALL",
    "ALTER TABLE {table} DISABLE TRIGGER USER",
    "ALTER TABLE {table} OWNER TO CURRENT_USER",
    "DROP TABLE {table}",
    "DROP TABLE {table} CASCADE",
]


def _refused(sql: str) -> str | None:
    """The SQLSTATE of the error ``sql`` raised, in a savepoint so the test goes on."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except ProgrammingError as error:
        return getattr(error.__cause__, "sqlstate", None)
    return None


@pytest.fixture
def records() -> dict[type, int]:
    """One audit entry, one statement and one usage line; how many rows each table holds."""
    audit_record(actor="operator", action="member.viewed")
    StatementFactory()
    UsageLineFactory()
    counts = {model: model.objects.count() for model in (AuditEntry, Statement, UsageLine)}
    assert all(counts.values())
    return counts


@two_roles
def test_the_tests_connect_as_the_application_role_which_owns_nothing():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, r.rolsuper,"
            " pg_has_role(current_user, %s, 'MEMBER'),"
            " (SELECT count(*) FROM pg_class c"
            "  WHERE c.relnamespace = to_regnamespace(current_schema())"
            "  AND pg_get_userbyid(c.relowner) = current_user)"
            " FROM pg_roles r WHERE r.rolname = current_user",
            [settings.MEISAI_MIGRATE_DATABASE["USER"]],
        )
        role, superuser, member_of_owner, owned = cursor.fetchone()
    assert (role, superuser, member_of_owner, owned) == (application_role(), False, False, 0)


@two_roles
@pytest.mark.parametrize("statement", ERASING)
@pytest.mark.parametrize("model", PROTECTED)
def test_the_application_role_cannot_truncate_disable_triggers_or_drop(model, statement, records):
    table = model._meta.db_table
    assert _refused(statement.format(table=table)) == INSUFFICIENT_PRIVILEGE
    assert model.objects.count() == records[model]


@two_roles
def test_the_application_role_cannot_switch_off_triggers_for_its_session():
    # session_replication_role = replica would skip every ordinary trigger, the append-only
    # guards included; only a superuser (or a role granted SET on it) may change it.
    assert _refused("SET session_replication_role = replica") == INSUFFICIENT_PRIVILEGE
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone() == ("origin",)


@two_roles
def test_the_append_only_guard_still_holds_for_the_application_role(records):
    entry = AuditEntry.objects.get()
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.count() == records[AuditEntry]


@two_roles
def test_every_table_gives_the_application_its_rows_and_nothing_more():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname,"
            # With a list, has_table_privilege asks for any one of them: all four, one by one.
            " has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT') AND"
            " has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE'),"
            " has_table_privilege(c.oid, 'TRUNCATE, REFERENCES, TRIGGER')"
            " FROM pg_class c WHERE c.relnamespace = to_regnamespace(current_schema())"
            " AND c.relkind IN ('r', 'p') ORDER BY 1"
        )
        tables = cursor.fetchall()
    assert {"audit_auditentry", "statements_statement", "statements_usageline"} <= {
        name for name, _, _ in tables
    }
    assert [name for name, rows, _ in tables if not rows] == []
    assert [name for name, _, more in tables if more] == []


@two_roles
def test_the_application_role_reads_and_writes_rows_and_its_temporary_tables():
    entry = audit_record(actor="operator", action="member.viewed", detail={"member_no": "M1"})
    assert AuditEntry.objects.get(pk=entry.pk).detail == {"member_no": "M1"}
    line = UsageLineFactory()
    assert UsageLine.objects.filter(pk=line.pk).update(note="再請求") == 1
    # The outbox and the usage import stage their batches by COPY into temporary tables.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE meisai_roles_stage (n integer) ON COMMIT DROP")
        with cursor.copy("COPY meisai_roles_stage (n) FROM STDIN") as copy:
            copy.write_row((7,))
        cursor.execute("SELECT n FROM meisai_roles_stage")
        assert cursor.fetchall() == [(7,)]


# --- the configuration (config.py): refused at start, in a fresh interpreter --------------------

ROOT = Path(__file__).resolve().parents[2]


def _start(**variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MEISAI_ENV"}}
    env.update(variables, DJANGO_SETTINGS_MODULE="meisai.settings")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("owner", "application", "problem"),
    [
        (
            "postgres://owner:s3cret@db.example.jp:5432/meisai",
            "postgres://app:pw@db.example.jp:5432/meisai_restored",
            "must name the same database: its name is 'meisai', DATABASE_URL's 'meisai_restored'",
        ),
        (
            "postgres://owner:s3cret@db1.example.jp:5432/meisai",
            "postgres://app:pw@db2.example.jp:5432/meisai",
            "must name the same database: its host is 'db1.example.jp'",
        ),
        (
            "postgres://owner:s3cret@db.example.jp:5432/meisai",
            "sqlite:///var/meisai.sqlite3",
            "it and DATABASE_URL must both be postgres:// URLs",
        ),
        (
            "postgres://owner:s3cret@db.example.jp:5432/meisai",
            "postgres://db.example.jp:5432/meisai",
            "must each name their role",
        ),
    ],
)
def test_an_owner_url_for_another_database_stops_the_start(owner, application, problem):
    started = _start(MEISAI_MIGRATE_DATABASE_URL=owner, DATABASE_URL=application)
    assert started.returncode == 1
    assert "MEISAI_MIGRATE_DATABASE_URL" in started.stderr
    assert problem in started.stderr
    assert "s3cret" not in started.stderr


def test_production_migrates_only_as_the_owner():
    """On PostgreSQL, production's ``meisai migrate`` without the owner's URL is refused before
    it touches the database (the application role would own every table it creates)."""
    started = subprocess.run(
        [sys.executable, "-m", "meisai.cli", "migrate", "--no-input"],
        env={
            **{k: v for k, v in os.environ.items() if k != "MEISAI_MIGRATE_DATABASE_URL"},
            "MEISAI_ENV": "production",
            "SECRET_KEY": "s" * 64,
            "CARD_HASH_KEY": "k" * 40,
            "MEISAI_ALLOWED_HOSTS": "meisai.example.jp",
            "MEISAI_BASE_URL": "https://meisai.example.jp",
            "EMAIL_URL": "smtp://relay.example.jp:25",
            # Nothing listens there: the refusal must come before any connection.
            "DATABASE_URL": "postgres://meisai_app@127.0.0.1:1/meisai",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert started.returncode == 1
    assert "production migrates as the database owner: set MEISAI_MIGRATE_DATABASE_URL" in (
        started.stderr
    )
