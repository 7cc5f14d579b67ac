"""References between the month's big tables are checked set-based, not row by row.

Django's foreign keys become PostgreSQL ``FOREIGN KEY`` constraints, whose check is a trigger call
and a lookup per inserted row: about 4 µs a row, 4 s of a million-line usage import and 1 s of a
100,000-member close (statements, fee lines, campaign grants). The same guarantees now come from
statement-level triggers that see all rows an ``INSERT`` or ``UPDATE`` wrote at once (a
transition table) and check them with one anti-join:

* usage lines → member and card; statements → member; statement lines → statement and card;
  point entries → member and campaign: a row naming a key that does not exist is refused with
  SQLSTATE 23503 (``foreign_key_violation``, an ``IntegrityError`` in Django), as before;
* deleting a member, card, statement or campaign that is still referenced is refused the same
  way. The check first takes a SHARE lock on each referencing table, so it waits for
  transactions that are inserting rows and keeps new ones out until it commits (a plain foreign
  key gets this from row locks); under READ COMMITTED, which meisai uses, the checks of both
  sides then see each other's committed rows;
* a referenced key (``id``) is never changed.

Statements and statement lines cannot be updated in their keys anyway (``statement_immutable``,
``statement_line_immutable`` of 0002), so only inserts are checked there.

The foreign keys of statements and statement lines also lose their own indexes: the unique
constraints ``one_statement_per_month`` and ``statement_line_unique`` start with the same column.

SQLite keeps row-level triggers for the inserting side (its foreign keys were row-level anyway)
and, as in 0004, nothing on the deleting side: Django's test flush empties tables with DELETE in
any order. Rebuilding the tables for the changed fields drops their triggers, so the guards of
0002 and 0004 are created again.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

_IMMUTABLE = importlib.import_module("meisai.statements.migrations.0002_immutability_triggers")
_USAGE_GUARDS = importlib.import_module("meisai.statements.migrations.0004_usage_line_guards")

#: Referencing table → its references (column, referenced table).
REFERENCES = {
    "statements_usageline": [("member_id", "members_member"), ("card_id", "members_card")],
    "statements_statement": [("member_id", "members_member")],
    "statements_statementline": [
        ("statement_id", "statements_statement"),
        ("card_id", "members_card"),
    ],
    "points_pointentry": [("member_id", "members_member"), ("campaign_id", "points_campaign")],
}
#: Tables whose rows may be updated in a referencing column (the others refuse such updates).
UPDATABLE = ["statements_usageline", "points_pointentry"]

POSTGRES_FUNCTIONS = r"""
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

CREATE OR REPLACE FUNCTION meisai_key_unchanged() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the key of % % cannot change', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'foreign_key_violation';
END
$$ LANGUAGE plpgsql;
"""


def _referenced() -> dict[str, list[tuple[str, str]]]:
    """Referenced table → its referencing (table, column) pairs."""
    result: dict[str, list[tuple[str, str]]] = {}
    for table, references in REFERENCES.items():
        for column, target in references:
            result.setdefault(target, []).append((table, column))
    return result


def _arguments(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"'{name}'" for pair in pairs for name in pair)


def postgres_forward() -> list[str]:
    sql = [POSTGRES_FUNCTIONS]
    for table, references in REFERENCES.items():
        events = ["INSERT"] + (["UPDATE"] if table in UPDATABLE else [])
        for event in events:
            sql.append(
                f"CREATE TRIGGER {table}_references_{event.lower()}"
                f" AFTER {event} ON {table} REFERENCING NEW TABLE AS new_rows"
                f" FOR EACH STATEMENT EXECUTE FUNCTION meisai_references_exist({_arguments(references)})"
            )
    for target, referencing in _referenced().items():
        sql.append(
            f"CREATE TRIGGER {target}_references_unused AFTER DELETE ON {target}"
            " REFERENCING OLD TABLE AS old_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION meisai_references_unused({_arguments(referencing)})"
        )
        sql.append(
            f"CREATE TRIGGER {target}_key_unchanged BEFORE UPDATE OF id ON {target}"
            " FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)"
            " EXECUTE FUNCTION meisai_key_unchanged()"
        )
    return sql


def postgres_backward() -> list[str]:
    sql = []
    for table in REFERENCES:
        for event in ("insert", "update"):
            sql.append(f"DROP TRIGGER IF EXISTS {table}_references_{event} ON {table}")
    for target in _referenced():
        sql.append(f"DROP TRIGGER IF EXISTS {target}_references_unused ON {target}")
        sql.append(f"DROP TRIGGER IF EXISTS {target}_key_unchanged ON {target}")
    sql += [
        "DROP FUNCTION IF EXISTS meisai_references_exist()",
        "DROP FUNCTION IF EXISTS meisai_references_unused()",
        "DROP FUNCTION IF EXISTS meisai_key_unchanged()",
    ]
    return sql


def sqlite_forward() -> list[str]:
    sql = []
    for table, references in REFERENCES.items():
        for column, target in references:
            missing = (
                f"NEW.{column} IS NOT NULL"
                f" AND NOT EXISTS (SELECT 1 FROM {target} WHERE id = NEW.{column})"
            )
            for event in ("INSERT", f"UPDATE OF {column}"):
                name = f"{table}_{column}_exists_{event.split()[0].lower()}"
                sql.append(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {missing}"
                    f" BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {table}.{column}'); END"
                )
    return sql


def sqlite_backward() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_{column}_exists_{event}"
        for table, references in REFERENCES.items()
        for column, _ in references
        for event in ("insert", "update")
    ]


def _sqlite_guards() -> list[str]:
    return (
        _IMMUTABLE.SQLITE_BACKWARD
        + _IMMUTABLE.SQLITE_FORWARD
        + _USAGE_GUARDS.SQLITE_BACKWARD
        + _USAGE_GUARDS.SQLITE_FORWARD
    )


def sqlite_guards_off(apps, schema_editor):
    """SQLite cannot rename a rebuilt table while another table's trigger names it."""
    if schema_editor.connection.vendor == "sqlite":
        for sql in _IMMUTABLE.SQLITE_BACKWARD + _USAGE_GUARDS.SQLITE_BACKWARD:
            schema_editor.execute(sql, params=None)


def sqlite_guards_on(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in _sqlite_guards():
            schema_editor.execute(sql, params=None)


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for sql in postgres_forward():
            schema_editor.execute(sql, params=None)
    elif vendor == "sqlite":
        # The guards of 0002 and 0004, dropped for the rebuild, and the references.
        for sql in _sqlite_guards() + sqlite_forward():
            schema_editor.execute(sql, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for sql in postgres_backward():
            schema_editor.execute(sql, params=None)
    elif vendor == "sqlite":
        for sql in sqlite_backward():
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0001_initial"),
        ("points", "0002_set_based_references"),
        ("statements", "0007_remove_copied_usage_lines"),
    ]

    operations = [
        migrations.RunPython(sqlite_guards_off, sqlite_guards_on),
        migrations.AlterField(
            model_name="statement",
            name="member",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="statements",
                to="members.member",
            ),
        ),
        migrations.AlterField(
            model_name="statementline",
            name="card",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="members.card",
            ),
        ),
        migrations.AlterField(
            model_name="statementline",
            name="statement",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="lines",
                to="statements.statement",
            ),
        ),
        migrations.AlterField(
            model_name="usageline",
            name="card",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="members.card",
            ),
        ),
        migrations.AlterField(
            model_name="usageline",
            name="member",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="usage_lines",
                to="members.member",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
