"""The close verifies the month's totals itself; the database refuses statements after the close.

Until now PostgreSQL summed every usage line of the month a second time at commit (the deferred
``statement_total_matches_lines`` of 0005), to check each statement's total against its lines.
The close builds each total from that very sum, in the same transaction, with imports locked
out (``LOCK TABLE … IN SHARE MODE``), and reconciles the month against an independent scan of
the usage lines before it confirms; repeating the aggregation at commit took as long as the
aggregation itself (0.6 s of a 2.5 s close of 100,000 members, bench/close_month.py). It is
dropped.

What the second sum also caught — a statement written by hand into a month — is refused more
directly now, on both databases: no statement can be inserted into a confirmed month (one
statement-level check over the inserted rows on PostgreSQL, a row trigger on SQLite). Confirmed
statements and their lines stay unchangeable (0002, 0004).
"""

import importlib

from django.db import migrations

_TOTAL_CHECK = importlib.import_module("meisai.statements.migrations.0005_set_based_total_check")

POSTGRES_FORWARD = r"""
DROP TRIGGER IF EXISTS statement_total_matches_lines ON meisai_statement_total_queue;
DROP TRIGGER IF EXISTS statement_total_enqueue ON statements_statement;
DROP FUNCTION IF EXISTS meisai_statement_total_check();
DROP FUNCTION IF EXISTS meisai_statement_total_enqueue();
DROP TABLE IF EXISTS meisai_statement_total_queue;

CREATE OR REPLACE FUNCTION meisai_statement_insert_check() RETURNS trigger AS $$
DECLARE
    month varchar;
BEGIN
    SELECT c.billing_month INTO month
        FROM statements_monthclose c
        WHERE c.status = 'confirmed'
          AND c.billing_month IN (SELECT DISTINCT n.billing_month FROM new_statements n)
        LIMIT 1;
    IF month IS NOT NULL THEN
        RAISE EXCEPTION 'statements cannot be added to the confirmed month %', month
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER statement_insert_check
    AFTER INSERT ON statements_statement
    REFERENCING NEW TABLE AS new_statements
    FOR EACH STATEMENT EXECUTE FUNCTION meisai_statement_insert_check();
"""

POSTGRES_BACKWARD = r"""
DROP TRIGGER IF EXISTS statement_insert_check ON statements_statement;
DROP FUNCTION IF EXISTS meisai_statement_insert_check();
"""

SQLITE_FORWARD = [
    """CREATE TRIGGER statement_insert_check BEFORE INSERT ON statements_statement
       WHEN EXISTS (SELECT 1 FROM statements_monthclose c
                    WHERE c.billing_month = NEW.billing_month AND c.status = 'confirmed')
       BEGIN SELECT RAISE(ABORT, 'statements cannot be added to a confirmed month'); END"""
]

SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS statement_insert_check"]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_FORWARD:
            schema_editor.execute(sql, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
        schema_editor.execute(_TOTAL_CHECK.POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        for sql in SQLITE_BACKWARD:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("statements", "0008_set_based_references"),
    ]

    operations = [migrations.RunPython(forward, backward)]
