"""Usage lines of a closed month are statement lines: the database keeps them as they are.

A statement's lines are the member's usage lines of the month (not copied since 0003) plus the
``StatementLine`` rows meisai adds (the paper fee). So:

PostgreSQL:
* a usage line of a member and month that has a statement, or of a confirmed month, cannot be
  updated or deleted, and no update can move a line into such a member/month;
* no usage line can be inserted into a confirmed month (one statement-level check over the
  inserted rows, so a million-row COPY pays one join, not a trigger call per row);
* the deferred total check of 0002 now adds the member's usage lines of the month to the
  statement's own lines.
SQLite: the UPDATE guard and the INSERT guard (no DELETE guard: Django's test flush empties
tables with DELETE).
"""

from django.db import migrations

POSTGRES_FORWARD = r"""
CREATE OR REPLACE FUNCTION meisai_usage_line_closed(member bigint, month varchar) RETURNS boolean
AS $$
    SELECT EXISTS (SELECT 1 FROM statements_statement s
                   WHERE s.billing_month = month AND s.member_id = member)
        OR EXISTS (SELECT 1 FROM statements_monthclose c
                   WHERE c.billing_month = month AND c.status = 'confirmed')
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION meisai_usage_line_immutable() RETURNS trigger AS $$
BEGIN
    IF meisai_usage_line_closed(OLD.member_id, OLD.billing_month) THEN
        RAISE EXCEPTION 'usage line % belongs to a confirmed statement (%, member %)',
            OLD.id, OLD.billing_month, OLD.member_id USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF meisai_usage_line_closed(NEW.member_id, NEW.billing_month) THEN
        RAISE EXCEPTION 'usage line % cannot be moved into a confirmed month (%, member %)',
            NEW.id, NEW.billing_month, NEW.member_id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER usage_line_immutable
    BEFORE UPDATE OR DELETE ON statements_usageline
    FOR EACH ROW EXECUTE FUNCTION meisai_usage_line_immutable();

CREATE OR REPLACE FUNCTION meisai_usage_line_insert_check() RETURNS trigger AS $$
DECLARE
    month varchar;
BEGIN
    SELECT c.billing_month INTO month
        FROM statements_monthclose c
        WHERE c.status = 'confirmed'
          AND c.billing_month IN (SELECT DISTINCT n.billing_month FROM new_lines n)
        LIMIT 1;
    IF month IS NOT NULL THEN
        RAISE EXCEPTION 'usage lines cannot be added to the confirmed month %', month
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER usage_line_insert_check
    AFTER INSERT ON statements_usageline
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION meisai_usage_line_insert_check();

CREATE OR REPLACE FUNCTION meisai_statement_total_check() RETURNS trigger AS $$
DECLARE
    usage_sum bigint;
    line_sum bigint;
BEGIN
    SELECT COALESCE(SUM(u.billed_amount), 0) INTO usage_sum
        FROM statements_usageline u
        WHERE u.billing_month = NEW.billing_month AND u.member_id = NEW.member_id;
    SELECT COALESCE(SUM(l.billed_amount), 0) INTO line_sum
        FROM statements_statementline l WHERE l.statement_id = NEW.id;
    IF usage_sum + line_sum <> NEW.total THEN
        RAISE EXCEPTION 'statement % total % differs from the sum of its lines % (usage % + own %)',
            NEW.id, NEW.total, usage_sum + line_sum, usage_sum, line_sum
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""

# Back to 0002: the total check over the statement's own lines only.
POSTGRES_BACKWARD = r"""
DROP TRIGGER IF EXISTS usage_line_insert_check ON statements_usageline;
DROP TRIGGER IF EXISTS usage_line_immutable ON statements_usageline;
DROP FUNCTION IF EXISTS meisai_usage_line_insert_check();
DROP FUNCTION IF EXISTS meisai_usage_line_immutable();
DROP FUNCTION IF EXISTS meisai_usage_line_closed(bigint, varchar);

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
"""

_SQLITE_CLOSED = """
    EXISTS (SELECT 1 FROM statements_statement s
            WHERE s.billing_month = {row}.billing_month AND s.member_id = {row}.member_id)
    OR EXISTS (SELECT 1 FROM statements_monthclose c
               WHERE c.billing_month = {row}.billing_month AND c.status = 'confirmed')
"""

SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER usage_line_immutable
    BEFORE UPDATE ON statements_usageline
    WHEN {_SQLITE_CLOSED.format(row="OLD")} OR {_SQLITE_CLOSED.format(row="NEW")}
    BEGIN
        SELECT RAISE(ABORT, 'usage lines of a confirmed statement are immutable');
    END
    """,
    """
    CREATE TRIGGER usage_line_insert_check
    BEFORE INSERT ON statements_usageline
    WHEN EXISTS (SELECT 1 FROM statements_monthclose c
                 WHERE c.billing_month = NEW.billing_month AND c.status = 'confirmed')
    BEGIN
        SELECT RAISE(ABORT, 'usage lines cannot be added to a confirmed month');
    END
    """,
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS usage_line_insert_check",
    "DROP TRIGGER IF EXISTS usage_line_immutable",
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
        ("statements", "0003_usage_line_month_first"),
    ]

    operations = [migrations.RunPython(forward, backward)]
