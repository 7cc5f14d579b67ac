"""PostgreSQL: the deferred check "total = sum of the statement's lines" runs once per month.

Until now a deferred row trigger checked each statement at commit: about 35 µs a statement
(queueing, one PL/pgSQL call and two lookups each), 3.5 s for a month of 100,000 statements —
more than the whole rest of the close. Now a statement-level trigger queues the billing months
an ``INSERT`` wrote statements for (one queue row per month and transaction), and the deferred
constraint trigger ``statement_total_matches_lines`` on that queue row checks every statement
of the month at commit in one set-based query (usage lines of the member and month + the
statement's own lines), then removes the row. Same rule, same constraint name (``SET
CONSTRAINTS statement_total_matches_lines …`` still works), one check per month instead of one
per statement.

Statement UPDATEs no longer queue a check: ``statement_immutable`` (0002) already refuses any
change to the amounts, the member or the month. SQLite is unchanged (it never had this check).
"""

from django.db import migrations

POSTGRES_FORWARD = r"""
DROP TRIGGER IF EXISTS statement_total_matches_lines ON statements_statement;
DROP FUNCTION IF EXISTS meisai_statement_total_check();

-- Unlogged: a queue row lives only until the end of its transaction. One row per billing month
-- whose statements this transaction inserted, however many INSERTs it took.
CREATE UNLOGGED TABLE meisai_statement_total_queue (
    billing_month varchar(7) PRIMARY KEY
);

CREATE OR REPLACE FUNCTION meisai_statement_total_enqueue() RETURNS trigger AS $$
BEGIN
    INSERT INTO meisai_statement_total_queue (billing_month)
        SELECT DISTINCT n.billing_month FROM new_statements n
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER statement_total_enqueue
    AFTER INSERT ON statements_statement
    REFERENCING NEW TABLE AS new_statements
    FOR EACH STATEMENT EXECUTE FUNCTION meisai_statement_total_enqueue();

CREATE OR REPLACE FUNCTION meisai_statement_total_check() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    -- Every statement of the month against its lines, set-based: the month's usage lines summed
    -- per member (an index range on the month, the first column of usage_line_unique) and the
    -- statements' own lines summed per statement.
    SELECT s.id, s.total, COALESCE(u.amount, 0) AS usage_sum, COALESCE(l.amount, 0) AS own_sum
        INTO bad
        FROM statements_statement s
        LEFT JOIN (
            SELECT ul.member_id, SUM(ul.billed_amount) AS amount
            FROM statements_usageline ul
            WHERE ul.billing_month = NEW.billing_month
            GROUP BY ul.member_id
        ) u ON u.member_id = s.member_id
        LEFT JOIN (
            SELECT sl.statement_id, SUM(sl.billed_amount) AS amount
            FROM statements_statementline sl
            JOIN statements_statement ss ON ss.id = sl.statement_id
            WHERE ss.billing_month = NEW.billing_month
            GROUP BY sl.statement_id
        ) l ON l.statement_id = s.id
        WHERE s.billing_month = NEW.billing_month
          AND s.total <> COALESCE(u.amount, 0) + COALESCE(l.amount, 0)
        ORDER BY s.id
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'statement % total % differs from the sum of its lines % (usage % + own %)',
            bad.id, bad.total, bad.usage_sum + bad.own_sum, bad.usage_sum, bad.own_sum
            USING ERRCODE = 'check_violation';
    END IF;
    DELETE FROM meisai_statement_total_queue WHERE billing_month = NEW.billing_month;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
-- The statements were inserted moments ago, so their statistics say "a few rows": the planner
-- would pick nested loops (20,000 × 20,000 comparisons measured, 17 s). Every join here is
-- month-sized: hash joins always.
SET enable_nestloop = off;

CREATE CONSTRAINT TRIGGER statement_total_matches_lines
    AFTER INSERT ON meisai_statement_total_queue
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION meisai_statement_total_check();
"""

# Back to 0004: one deferred check per statement row.
POSTGRES_BACKWARD = r"""
DROP TRIGGER IF EXISTS statement_total_matches_lines ON meisai_statement_total_queue;
DROP TRIGGER IF EXISTS statement_total_enqueue ON statements_statement;
DROP FUNCTION IF EXISTS meisai_statement_total_check();
DROP FUNCTION IF EXISTS meisai_statement_total_enqueue();
DROP TABLE IF EXISTS meisai_statement_total_queue;

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

CREATE CONSTRAINT TRIGGER statement_total_matches_lines
    AFTER INSERT OR UPDATE ON statements_statement
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION meisai_statement_total_check();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("statements", "0004_usage_line_guards"),
    ]

    operations = [migrations.RunPython(forward, backward)]
