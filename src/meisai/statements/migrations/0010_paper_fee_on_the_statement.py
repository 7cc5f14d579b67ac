"""The paper fee is the statement's ``fee_total``; the ``StatementLine`` table goes.

Since 0007 the only lines meisai wrote itself were the paper fee lines, one per charged statement,
each repeating what the statement already holds (``fee_total``, with ``total = usage_total +
fee_total`` checked by the table). The selectors now print the fee line from the statement, so
"at most one fee per statement" holds by construction, and the close no longer writes 57,000
rows with four indexes and two checks for a month of 100,000 members (0.29 s of the close,
bench/close_month.py). Dropping the table loses nothing: every fee line equals its statement's
``fee_total``, which the migration checks first (it stops if a line says anything else).

PostgreSQL: the deletion guards of cards and statements named the table (0008); the cards' guard
is made again without it, the statements' goes (statement lines were its only referrer). The
table's own triggers go with it, on both databases.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    "DROP TRIGGER IF EXISTS statements_statement_references_unused ON statements_statement",
    "DROP TRIGGER IF EXISTS members_card_references_unused ON members_card",
    "CREATE TRIGGER members_card_references_unused AFTER DELETE ON members_card"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION meisai_references_unused('statements_usageline', 'card_id')",
    "DROP FUNCTION IF EXISTS meisai_statement_line_insert_check() CASCADE",
    "DROP FUNCTION IF EXISTS meisai_statement_line_immutable() CASCADE",
]

# Back to 0009's guards (the table itself comes back, empty, through DeleteModel's reverse; its
# own triggers of 0002, 0004 and 0008 are not remade).
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS members_card_references_unused ON members_card",
    "CREATE TRIGGER members_card_references_unused AFTER DELETE ON members_card"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION meisai_references_unused("
    "'statements_usageline', 'card_id', 'statements_statementline', 'card_id')",
    "CREATE TRIGGER statements_statement_references_unused AFTER DELETE ON statements_statement"
    " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
    " EXECUTE FUNCTION meisai_references_unused('statements_statementline', 'statement_id')",
]


#: Rows the table holds that its statement does not say: any of them stops the migration.
UNSAID_LINES = """
    SELECT COUNT(*) FROM statements_statementline l
    JOIN statements_statement s ON s.id = l.statement_id
    WHERE l.kind <> 'paper_fee' OR l.billed_amount <> s.fee_total
"""
FEES_WITHOUT_LINE = """
    SELECT COUNT(*) FROM statements_statement s
    WHERE s.fee_total <> 0 AND NOT EXISTS (
        SELECT 1 FROM statements_statementline l WHERE l.statement_id = s.id)
"""


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for check, problem in (
            (UNSAID_LINES, "statement line(s) differ from their statement's fee_total"),
            (FEES_WITHOUT_LINE, "statement(s) carry a fee without a fee line"),
        ):
            cursor.execute(check)
            (count,) = cursor.fetchone()
            if count:
                raise RuntimeError(
                    f"{count} {problem}; the table cannot be dropped before this is resolved"
                )
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_FORWARD:
            schema_editor.execute(sql, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_BACKWARD:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("statements", "0009_close_verifies_totals"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
        migrations.DeleteModel(name="StatementLine"),
    ]
