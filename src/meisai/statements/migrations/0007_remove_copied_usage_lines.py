"""Remove the statement lines that earlier closes copied from the usage lines.

Until 0003 the close copied every usage line of a member's month into ``StatementLine`` (kind
``usage``). A statement's usage lines are now read from the usage table itself, so on a
database closed before this change those copies would show twice. A close copied *all* the
member's usage lines of the month, so a ``usage`` statement line of a statement whose member
has usage lines in that month is such a copy and goes; statements without usage lines behind
them (made by hand, by tests or benchmarks) keep theirs. Totals do not change: the usage lines
sum to what the copies summed to.

PostgreSQL refuses to delete statement lines (``statement_line_immutable``): the trigger is
switched off for this one statement, inside the migration's transaction.
"""

from django.db import migrations

DELETE_COPIES = """
DELETE FROM statements_statementline
WHERE kind = 'usage'
  AND statement_id IN (
      SELECT s.id FROM statements_statement s
      WHERE EXISTS (SELECT 1 FROM statements_usageline u
                    WHERE u.billing_month = s.billing_month AND u.member_id = s.member_id))
"""


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE statements_statementline DISABLE TRIGGER statement_line_immutable"
        )
        schema_editor.execute(DELETE_COPIES)
        schema_editor.execute(
            "ALTER TABLE statements_statementline ENABLE TRIGGER statement_line_immutable"
        )
    else:
        schema_editor.execute(DELETE_COPIES)


class Migration(migrations.Migration):
    dependencies = [
        ("statements", "0006_usage_line_no_fk_indexes"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
