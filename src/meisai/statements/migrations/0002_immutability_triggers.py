"""Confirmed statements and their lines cannot change: enforced in the database.

PostgreSQL:
* statement lines: no UPDATE, no DELETE; no INSERT into a statement of a confirmed month;
* statements: no DELETE; UPDATE only of ``published_at`` (from NULL, by publish) and
  ``pdf_sha256`` (from '', by the PDF page), every other column compared through jsonb so a
  column added later is guarded too;
* a deferred constraint trigger checks at commit that a statement's total equals the sum of
  its lines.
SQLite (the embedded demo and the quick test run) gets the UPDATE guards; it has no DELETE
guard because Django's test flush empties tables with DELETE.
"""

from django.db import migrations

POSTGRES_FORWARD = r"""
CREATE OR REPLACE FUNCTION meisai_statement_line_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'statement lines are immutable (line %, statement %)', OLD.id, OLD.statement_id
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER statement_line_immutable
    BEFORE UPDATE OR DELETE ON statements_statementline
    FOR EACH ROW EXECUTE FUNCTION meisai_statement_line_immutable();

CREATE OR REPLACE FUNCTION meisai_statement_line_insert_check() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM new_lines n
        JOIN statements_statement s ON s.id = n.statement_id
        JOIN statements_monthclose c ON c.billing_month = s.billing_month
        WHERE c.status = 'confirmed'
    ) THEN
        RAISE EXCEPTION 'lines cannot be added to a statement of a confirmed month'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER statement_line_insert_check
    AFTER INSERT ON statements_statementline
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION meisai_statement_line_insert_check();

CREATE OR REPLACE FUNCTION meisai_statement_immutable() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'confirmed statement % cannot be deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (to_jsonb(NEW) - 'published_at' - 'pdf_sha256')
            IS DISTINCT FROM (to_jsonb(OLD) - 'published_at' - 'pdf_sha256') THEN
        RAISE EXCEPTION 'confirmed statement % cannot be changed', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.published_at IS DISTINCT FROM OLD.published_at AND OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'statement % is already published', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.pdf_sha256 IS DISTINCT FROM OLD.pdf_sha256 AND OLD.pdf_sha256 <> '' THEN
        RAISE EXCEPTION 'statement % already has its PDF digest', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER statement_immutable
    BEFORE UPDATE OR DELETE ON statements_statement
    FOR EACH ROW EXECUTE FUNCTION meisai_statement_immutable();

CREATE OR REPLACE FUNCTION meisai_statement_total_check() RETURNS trigger AS $$
DECLARE
    line_sum bigint;
BEGIN
    SELECT COALESCE(SUM(billed_amount), 0) INTO line_sum
        FROM statements_statementline WHERE statement_id = NEW.id;
    IF line_sum <> NEW.total THEN
        RAISE EXCEPTION 'statement % total % differs from the sum of its lines %',
            NEW.id, NEW.total, line_sum USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER statement_total_matches_lines
    AFTER INSERT OR UPDATE ON statements_statement
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION meisai_statement_total_check();
"""

POSTGRES_BACKWARD = r"""
DROP TRIGGER IF EXISTS statement_total_matches_lines ON statements_statement;
DROP TRIGGER IF EXISTS statement_immutable ON statements_statement;
DROP TRIGGER IF EXISTS statement_line_insert_check ON statements_statementline;
DROP TRIGGER IF EXISTS statement_line_immutable ON statements_statementline;
DROP FUNCTION IF EXISTS meisai_statement_total_check();
DROP FUNCTION IF EXISTS meisai_statement_immutable();
DROP FUNCTION IF EXISTS meisai_statement_line_insert_check();
DROP FUNCTION IF EXISTS meisai_statement_line_immutable();
"""

SQLITE_FORWARD = [
    """
    CREATE TRIGGER statement_line_immutable
    BEFORE UPDATE ON statements_statementline
    BEGIN
        SELECT RAISE(ABORT, 'statement lines are immutable');
    END
    """,
    """
    CREATE TRIGGER statement_immutable
    BEFORE UPDATE ON statements_statement
    WHEN NEW.id IS NOT OLD.id
      OR NEW.member_id IS NOT OLD.member_id
      OR NEW.billing_month IS NOT OLD.billing_month
      OR NEW.delivery IS NOT OLD.delivery
      OR NEW.usage_total IS NOT OLD.usage_total
      OR NEW.fee_total IS NOT OLD.fee_total
      OR NEW.total IS NOT OLD.total
      OR NEW.line_count IS NOT OLD.line_count
      OR NEW.points_granted IS NOT OLD.points_granted
      OR NEW.debit_date IS NOT OLD.debit_date
      OR NEW.confirmed_at IS NOT OLD.confirmed_at
      OR (OLD.published_at IS NOT NULL AND NEW.published_at IS NOT OLD.published_at)
      OR (OLD.pdf_sha256 <> '' AND NEW.pdf_sha256 IS NOT OLD.pdf_sha256)
    BEGIN
        SELECT RAISE(ABORT, 'confirmed statements cannot be changed');
    END
    """,
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS statement_immutable",
    "DROP TRIGGER IF EXISTS statement_line_immutable",
]


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
    elif vendor == "sqlite":
        for sql in SQLITE_BACKWARD:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("statements", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward)]
