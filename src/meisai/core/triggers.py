"""The set-based reference checks that stand in for foreign keys between the month's big tables.

Django's foreign keys become PostgreSQL ``FOREIGN KEY`` constraints, whose check is a trigger call
and a lookup per inserted row: about 4 µs a row, 4 s of a million-line usage import and 1 s of a
100,000-member close. The tables that take a month of rows at once (usage lines, statements,
point entries) declare their keys with ``db_constraint=False`` instead, and their app's
``triggers.py`` installs the same guarantees with the functions defined here:

* ``meisai_references_exist(column, referenced table, …)`` — a statement-level trigger on the
  referencing table sees every row an ``INSERT`` or ``UPDATE`` wrote (a transition table named
  ``new_rows``) and checks each pair with one anti-join; a key that does not exist is refused with
  SQLSTATE 23503 (``foreign_key_violation``, an ``IntegrityError`` in Django), as a foreign key
  would;
* ``meisai_references_unused(referencing table, column, …)`` — a statement-level trigger on the
  referenced table refuses to delete a key that is still referenced. It first takes a SHARE lock
  on each referencing table, so it waits for transactions that are inserting rows and keeps new
  ones out until it commits (a plain foreign key gets this from row locks); under READ COMMITTED,
  which meisai uses, the checks of both sides then see each other's committed rows;
* ``meisai_key_unchanged()`` — a row trigger on a referenced table: its ``id`` never changes.

The functions name no table, so they live here on the ground floor and core's initial migration
installs them; the migrations of the apps whose triggers call them depend on it. The helpers
below write those triggers from an app's map of references, so every app spells them the same
way: the referencing app installs both halves of a reference (the check on its own table and the
deletion guard on the referenced one, as a foreign key would), the app of a referenced table its
key guard.

SQLite (the embedded demo and the quick test run) needs none of the functions: the referencing
side gets row triggers (its foreign keys were row-level anyway), and the deleting side nothing,
because Django's test flush empties tables with DELETE in any order.

A later migration that makes SQLite rebuild a table (most ``AlterField`` do) drops that table's
triggers, and SQLite refuses to rename the rebuilt table while another table's trigger names it:
such a migration drops the triggers that name the table first and creates them again afterwards.

Core's ``migrations/0001_initial.py`` is what ``meisai makemigrations`` writes for the models, with
``migrations.RunPython(triggers.install, migrations.RunPython.noop)`` appended as its last
operation: to regenerate it, delete it, run makemigrations, and append that line again.
"""

from __future__ import annotations

from typing import Any

#: Referencing table → its references, each (column, referenced table).
References = dict[str, list[tuple[str, str]]]

POSTGRESQL = [
    r"""
CREATE OR REPLACE FUNCTION meisai_references_exist() RETURNS trigger AS $$
DECLARE
    i integer := 0;
    missing bigint;
BEGIN
    -- Arguments: pairs of (column, referenced table). One anti-join per pair over all rows the
    -- statement wrote.
    WHILE i < TG_NARGS LOOP
        EXECUTE format(
            'SELECT n.%1$I FROM new_rows n WHERE n.%1$I IS NOT NULL'
            ' AND NOT EXISTS (SELECT 1 FROM %2$I p WHERE p.id = n.%1$I) LIMIT 1',
            TG_ARGV[i], TG_ARGV[i + 1]) INTO missing;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'insert or update on table "%" violates the reference %.% → %: key % is not present',
                TG_TABLE_NAME, TG_TABLE_NAME, TG_ARGV[i], TG_ARGV[i + 1], missing
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 2;
    END LOOP;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
""",
    r"""
CREATE OR REPLACE FUNCTION meisai_references_unused() RETURNS trigger AS $$
DECLARE
    i integer := 0;
    used bigint;
BEGIN
    -- Arguments: pairs of (referencing table, column). Deleting keys is rare (members, cards
    -- and campaigns are kept for good); the lock makes the check see every committed reference.
    WHILE i < TG_NARGS LOOP
        EXECUTE format('LOCK TABLE %I IN SHARE MODE', TG_ARGV[i]);
        EXECUTE format(
            'SELECT o.id FROM old_rows o'
            ' WHERE EXISTS (SELECT 1 FROM %1$I c WHERE c.%2$I = o.id) LIMIT 1',
            TG_ARGV[i], TG_ARGV[i + 1]) INTO used;
        IF used IS NOT NULL THEN
            RAISE EXCEPTION 'delete on table "%" violates the reference %.% → %: key % is still referenced',
                TG_TABLE_NAME, TG_ARGV[i], TG_ARGV[i + 1], TG_TABLE_NAME, used
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 2;
    END LOOP;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
""",
    r"""
CREATE OR REPLACE FUNCTION meisai_key_unchanged() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the key of % % cannot change', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'foreign_key_violation';
END
$$ LANGUAGE plpgsql;
""",
]


def _arguments(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"'{name}'" for pair in pairs for name in pair)


def postgresql_reference_checks(
    *, app: str, references: References, updatable: set[str]
) -> list[str]:
    """PostgreSQL triggers for an app's references: a check on each referencing table (on INSERT,
    and on UPDATE for the tables in ``updatable``; the others refuse such updates themselves), and
    one deletion guard per referenced table, ``<table>_references_unused_by_<app>``."""
    sql = []
    for table, pairs in references.items():
        events = ["INSERT"] + (["UPDATE"] if table in updatable else [])
        for event in events:
            sql.append(
                f"CREATE TRIGGER {table}_references_{event.lower()}"
                f" AFTER {event} ON {table} REFERENCING NEW TABLE AS new_rows"
                f" FOR EACH STATEMENT EXECUTE FUNCTION meisai_references_exist({_arguments(pairs)})"
            )
    referencing: dict[str, list[tuple[str, str]]] = {}
    for table, pairs in references.items():
        for column, target in pairs:
            referencing.setdefault(target, []).append((table, column))
    for target, pairs in referencing.items():
        sql.append(
            f"CREATE TRIGGER {target}_references_unused_by_{app} AFTER DELETE ON {target}"
            " REFERENCING OLD TABLE AS old_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION meisai_references_unused({_arguments(pairs)})"
        )
    return sql


def postgresql_key_unchanged(table: str) -> str:
    """The guard of a referenced table: its ``id`` never changes."""
    return (
        f"CREATE TRIGGER {table}_key_unchanged BEFORE UPDATE OF id ON {table}"
        " FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)"
        " EXECUTE FUNCTION meisai_key_unchanged()"
    )


def sqlite_reference_checks(references: References) -> list[str]:
    """SQLite row triggers for an app's references: a row naming a missing key is refused on
    INSERT and on an UPDATE of the column."""
    sql = []
    for table, pairs in references.items():
        for column, target in pairs:
            # Names from the apps' constant maps of references, never from input.
            exists = f"EXISTS (SELECT 1 FROM {target} WHERE id = NEW.{column})"  # noqa: S608
            missing = f"NEW.{column} IS NOT NULL AND NOT {exists}"
            for event in ("INSERT", f"UPDATE OF {column}"):
                name = f"{table}_{column}_exists_{event.split()[0].lower()}"
                sql.append(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {missing}"
                    f" BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table}.{column}'); END"
                )
    return sql


def run(schema_editor: Any, *, postgresql: list[str], sqlite: list[str]) -> None:
    """Execute the statements of the connection's database, one at a time (SQLite's driver runs
    one statement per call)."""
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": postgresql, "sqlite": sqlite}.get(vendor, [])
    for sql in statements:
        schema_editor.execute(sql, params=None)


def install(apps: Any, schema_editor: Any) -> None:
    run(schema_editor, postgresql=POSTGRESQL, sqlite=[])
