"""The owner's connection, for the commands that change the schema or empty the database.

On PostgreSQL meisai runs as two roles (docs/deployment.md). The owner
(``MEISAI_MIGRATE_DATABASE_URL``) owns the schema and every table; the application
(``DATABASE_URL``: web nodes, workers, every other command) may read, insert, update and delete
rows and nothing more, so it cannot ``TRUNCATE`` the audit trail or the statements, disable their
triggers or drop them: those need ownership or the ``TRUNCATE`` privilege, and it has neither.

``owner_connection()`` puts a connection as the owner, to the same database, in place of this
thread's ``default`` while ``migrate`` or ``flush`` runs. Not a second alias: migrations, their
``RunPython`` functions and the post_migrate handlers all use ``default``, and run as the owner
without knowing it. The database is the one ``default`` points at now, so it is the test database
during a test run (tests/conftest.py creates it this way too).

``grant_to_application()`` is what ``meisai migrate`` does afterwards, every time: it (re)grants
the application its rows on every table and sequence and takes back anything more, so a table a
migration creates is the application's to use as soon as that ``migrate`` ends, before any code
that uses it is deployed. Decision: no ``ALTER DEFAULT PRIVILEGES``. They would be redundant with
this, they are per database (every test database would need them set), and they travel in a dump,
where only the owner may restore them (docs/deployment.md, "Backup and restore").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend

#: Marks a connection that ``owner_connection`` made, so that nesting it (the test database is
#: created as the owner, and creating it runs ``migrate``) reuses it.
_OWNER = "meisai_database_owner"

#: What the application may do to a table's rows, and what it may not (TRUNCATE empties a table
#: without its row triggers; REFERENCES and TRIGGER are the owner's business).
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
TABLE_PRIVILEGES_REFUSED = "TRUNCATE, REFERENCES, TRIGGER"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"


def application_role() -> str | None:
    """The application's role when meisai runs as two roles, else None."""
    owner = settings.MEISAI_MIGRATE_DATABASE
    application = settings.DATABASES[DEFAULT_DB_ALIAS]
    if owner is None or owner["USER"] == application["USER"]:
        return None
    return str(application["USER"])


@contextmanager
def owner_connection(alias: str = DEFAULT_DB_ALIAS) -> Iterator[BaseDatabaseWrapper | None]:
    """While open, this thread's ``default`` connection is the owner's (None is yielded, and
    nothing changes, with one role or another alias)."""
    current = connections[alias]
    if getattr(current, _OWNER, False):
        yield current
        return
    if alias != DEFAULT_DB_ALIAS or application_role() is None:
        yield None
        return
    owner = settings.MEISAI_MIGRATE_DATABASE
    assert owner is not None
    # Same database and options; the owner's credentials (config.py checked host and port).
    as_owner = {**current.settings_dict, "USER": owner["USER"], "PASSWORD": owner["PASSWORD"]}
    wrapper = load_backend(as_owner["ENGINE"]).DatabaseWrapper(as_owner, alias)
    setattr(wrapper, _OWNER, True)
    connections[alias] = wrapper
    try:
        yield wrapper
    finally:
        wrapper.close()
        connections[alias] = current


def refuse_unsafe_roles(connection: BaseDatabaseWrapper, application: str) -> None:
    """Stop before migrating when the application role could erase records anyway: it is a
    superuser, a member of the owner (members act as the owner), or it owns tables (an
    installation that ran as one role: docs/deployment.md, "Moving to two roles")."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolsuper, pg_has_role(r.oid, current_user, 'MEMBER'),"
            " ARRAY(SELECT c.relname::text FROM pg_class c"
            "       WHERE c.relnamespace = to_regnamespace(current_schema())"
            "       AND c.relkind IN ('r', 'p', 'S', 'v', 'm')"
            "       AND pg_get_userbyid(c.relowner) <> current_user"
            "       ORDER BY 1)"
            " FROM pg_roles r WHERE r.rolname = %s",
            [application],
        )
        row = cursor.fetchone()
    if row is None:
        raise CommandError(f"DATABASE_URL's role {application!r} does not exist")
    superuser, member, not_owned = row
    if superuser:
        raise CommandError(
            f"DATABASE_URL's role {application!r} is a superuser: it could truncate or drop "
            "anything. Give the application a plain role (docs/deployment.md)."
        )
    if member:
        raise CommandError(
            f"DATABASE_URL's role {application!r} is a member of the owner role, and so acts as "
            f"the owner: REVOKE the owner role FROM {application} (docs/deployment.md)."
        )
    if not_owned:
        shown = ", ".join(not_owned[:5]) + (", …" if len(not_owned) > 5 else "")
        raise CommandError(
            f"{len(not_owned)} relations of the schema are not owned by the owner role "
            f"({shown}): REASSIGN OWNED BY their owner TO the owner role first "
            '(docs/deployment.md, "Moving to two roles").'
        )


def grant_to_application(connection: BaseDatabaseWrapper, application: str) -> None:
    """The application's privileges on the schema, every table and sequence in it, and on those
    the owner creates later. Idempotent: every ``meisai migrate`` runs it."""
    quote = connection.ops.quote_name
    role = quote(application)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        row: Any = cursor.fetchone()
        schema = quote(row[0])
        for statement in (
            f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {schema} TO {role}",
            f"REVOKE {TABLE_PRIVILEGES_REFUSED} ON ALL TABLES IN SCHEMA {schema} FROM {role}",
            f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        ):
            cursor.execute(statement)
