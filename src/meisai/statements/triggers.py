"""The database guards of usage lines and statements, the one place they are defined.

A statement is confirmed by the close and never changes afterwards, nor do the usage lines it is
made of (a statement's lines are the member's usage lines of the month, plus the paper fee that
is the statement's own ``fee_total``); corrections arrive as usage lines of a later month.

PostgreSQL:
* statements: no DELETE; UPDATE only of ``published_at`` (from NULL, by publish) and
  ``pdf_sha256`` (from '', by the PDF page), every other column compared as one row so that a
  column added later is guarded too (``statement_immutable``); no statement can be inserted into
  a confirmed month (``statement_insert_check``); pages are half filled so that those two
  updates stay on the row's page (``STATEMENT_FILLFACTOR``);
* usage lines: a line of a member and month that has a statement, or of a confirmed month, cannot
  be updated or deleted, and no update can move a line into such a member/month
  (``usage_line_immutable``); no line can be inserted into a confirmed month
  (``usage_line_insert_check``);
* the month's checks on inserts are statement-level, over the inserted rows (a transition table),
  so a million-row COPY pays one join, not a trigger call per row;
* the references of usage lines (member, card) and statements (member) are checked set-based
  (``statements_usageline_references_insert``, ``…_update``,
  ``statements_statement_references_insert``; statements refuse updates of their member anyway),
  and members and cards still named by them cannot be deleted
  (``members_member_references_unused_by_statements``,
  ``members_card_references_unused_by_statements``): the functions and why in
  ``meisai.core.triggers``.
Since migration 0005 both tables are partitioned by billing month on PostgreSQL
(``meisai.statements.partitions``). These triggers sit on the partitioned parents. PostgreSQL
clones the row guards onto every partition, and the statement-level checks see every row routed
into any partition. The half-filled pages are a setting of each statements partition.
SQLite (the embedded demo and the quick test run) gets the UPDATE and INSERT guards and row
triggers for the references; no DELETE guard, because Django's test flush empties tables with
DELETE.

The close checks each statement's total against the usage lines itself, in the same transaction
and with imports locked out, and reconciles the month before it confirms; the database does not
sum the lines a second time at commit.

``migrations/0001_initial.py`` is what ``meisai makemigrations`` writes for the models, with
``migrations.RunPython(triggers.install, migrations.RunPython.noop)`` appended as its last
operation and ``("core", "0001_initial")`` (which installs the trigger functions) added to its
dependencies: to regenerate it, delete it, run makemigrations, and add those two lines again.

The PostgreSQL messages begin with the same words as the SQLite ones, so a refusal reads the same
on both databases (PostgreSQL adds which row and month).
"""

from __future__ import annotations

from typing import Any

from meisai.core import triggers as core_triggers

REFERENCES: core_triggers.References = {
    "statements_usageline": [("member_id", "members_member"), ("card_id", "members_card")],
    "statements_statement": [("member_id", "members_member")],
}
#: Usage lines may be updated in a referencing column (until their month is closed); statements
#: cannot (``statement_immutable``), so only their inserts are checked.
UPDATABLE = {"statements_usageline"}

#: The row guard of statements. Every column but the two that may change is compared as a whole
#: row (``kept``: the old row with the new values of those two), so that a column added later is
#: guarded too, without turning both rows into jsonb on each call: publication updates a month's
#: million statements at once, and the jsonb comparison cost it 70 µs a row, the record one 10.
STATEMENT_IMMUTABLE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION meisai_statement_immutable() RETURNS trigger AS $$
DECLARE
    -- A record, not the table's row type: on PostgreSQL the rows are those of a month's partition
    -- (``meisai.statements.partitions``), whose row type is its own.
    kept record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'confirmed statements cannot be deleted (statement %)', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    kept := OLD;
    kept.published_at := NEW.published_at;
    kept.pdf_sha256 := NEW.pdf_sha256;
    IF kept IS DISTINCT FROM NEW THEN
        RAISE EXCEPTION 'confirmed statements cannot be changed (statement %)', OLD.id
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
"""

#: Room on each page of statements for a second version of every row: publication's UPDATE of
#: ``published_at`` (and later the PDF digest) then stays on the row's page (a HOT update),
#: without a new entry in each of the table's indexes — a sixth of the UPDATE's cost. Under half,
#: because the published version is longer by its ``published_at`` (NULL before). The price is a
#: statements table a little over twice the size of its rows.
STATEMENT_FILLFACTOR = 45
STATEMENT_STORAGE = f"ALTER TABLE statements_statement SET (fillfactor = {STATEMENT_FILLFACTOR})"

STATEMENT_GUARDS = [
    STATEMENT_IMMUTABLE_FUNCTION,
    """
CREATE TRIGGER statement_immutable
    BEFORE UPDATE OR DELETE ON statements_statement
    FOR EACH ROW EXECUTE FUNCTION meisai_statement_immutable();
""",
    r"""
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
        RAISE EXCEPTION 'statements cannot be added to a confirmed month (%)', month
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
""",
    """
CREATE TRIGGER statement_insert_check
    AFTER INSERT ON statements_statement
    REFERENCING NEW TABLE AS new_statements
    FOR EACH STATEMENT EXECUTE FUNCTION meisai_statement_insert_check();
""",
]

USAGE_LINE_GUARDS = [
    r"""
CREATE OR REPLACE FUNCTION meisai_usage_line_closed(member bigint, month varchar) RETURNS boolean
AS $$
    SELECT EXISTS (SELECT 1 FROM statements_statement s
                   WHERE s.billing_month = month AND s.member_id = member)
        OR EXISTS (SELECT 1 FROM statements_monthclose c
                   WHERE c.billing_month = month AND c.status = 'confirmed')
$$ LANGUAGE sql STABLE;
""",
    r"""
CREATE OR REPLACE FUNCTION meisai_usage_line_immutable() RETURNS trigger AS $$
BEGIN
    IF meisai_usage_line_closed(OLD.member_id, OLD.billing_month) THEN
        RAISE EXCEPTION 'usage lines of a confirmed statement are immutable (line %, %, member %)',
            OLD.id, OLD.billing_month, OLD.member_id USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF meisai_usage_line_closed(NEW.member_id, NEW.billing_month) THEN
        RAISE EXCEPTION 'usage lines of a confirmed statement are immutable (line % into %, member %)',
            NEW.id, NEW.billing_month, NEW.member_id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
""",
    """
CREATE TRIGGER usage_line_immutable
    BEFORE UPDATE OR DELETE ON statements_usageline
    FOR EACH ROW EXECUTE FUNCTION meisai_usage_line_immutable();
""",
    r"""
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
        RAISE EXCEPTION 'usage lines cannot be added to a confirmed month (%)', month
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
""",
    """
CREATE TRIGGER usage_line_insert_check
    AFTER INSERT ON statements_usageline
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION meisai_usage_line_insert_check();
""",
]

_REFERENCE_CHECKS = core_triggers.postgresql_reference_checks(
    app="statements", references=REFERENCES, updatable=UPDATABLE
)

POSTGRESQL = [STATEMENT_STORAGE, *STATEMENT_GUARDS, *USAGE_LINE_GUARDS, *_REFERENCE_CHECKS]

#: The triggers on the two tables themselves (not the deletion guards on members and cards):
#: what ``meisai.statements.partitions`` installs again on the partitioned tables that replace
#: them.
POSTGRESQL_ON_OWN_TABLES = [
    *STATEMENT_GUARDS,
    *USAGE_LINE_GUARDS,
    *(sql for sql in _REFERENCE_CHECKS if sql.split(" ON ")[1].split()[0] in REFERENCES),
]

# The published_at / pdf_sha256 exceptions of the PostgreSQL guard, column by column (SQLite has
# no jsonb row comparison): a column added to statements must be added here.
_SQLITE_STATEMENT_IMMUTABLE = """
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
"""

_SQLITE_STATEMENT_INSERT_CHECK = """
CREATE TRIGGER statement_insert_check
    BEFORE INSERT ON statements_statement
    WHEN EXISTS (SELECT 1 FROM statements_monthclose c
                 WHERE c.billing_month = NEW.billing_month AND c.status = 'confirmed')
    BEGIN
        SELECT RAISE(ABORT, 'statements cannot be added to a confirmed month');
    END
"""

_SQLITE_CLOSED = """
    EXISTS (SELECT 1 FROM statements_statement s
            WHERE s.billing_month = {row}.billing_month AND s.member_id = {row}.member_id)
    OR EXISTS (SELECT 1 FROM statements_monthclose c
               WHERE c.billing_month = {row}.billing_month AND c.status = 'confirmed')
"""

_SQLITE_USAGE_LINE_IMMUTABLE = f"""
CREATE TRIGGER usage_line_immutable
    BEFORE UPDATE ON statements_usageline
    WHEN {_SQLITE_CLOSED.format(row="OLD")} OR {_SQLITE_CLOSED.format(row="NEW")}
    BEGIN
        SELECT RAISE(ABORT, 'usage lines of a confirmed statement are immutable');
    END
"""

_SQLITE_USAGE_LINE_INSERT_CHECK = """
CREATE TRIGGER usage_line_insert_check
    BEFORE INSERT ON statements_usageline
    WHEN EXISTS (SELECT 1 FROM statements_monthclose c
                 WHERE c.billing_month = NEW.billing_month AND c.status = 'confirmed')
    BEGIN
        SELECT RAISE(ABORT, 'usage lines cannot be added to a confirmed month');
    END
"""

SQLITE = [
    _SQLITE_STATEMENT_IMMUTABLE,
    _SQLITE_STATEMENT_INSERT_CHECK,
    _SQLITE_USAGE_LINE_IMMUTABLE,
    _SQLITE_USAGE_LINE_INSERT_CHECK,
    *core_triggers.sqlite_reference_checks(REFERENCES),
]


def install(apps: Any, schema_editor: Any) -> None:
    core_triggers.run(schema_editor, postgresql=POSTGRESQL, sqlite=SQLITE)


def install_publication_in_place(apps: Any, schema_editor: Any) -> None:
    """For databases made before: the row guard without jsonb, and the half-filled pages (for
    pages written from now on; ``VACUUM FULL statements_statement`` rewrites the old ones)."""
    core_triggers.run(
        schema_editor, postgresql=[STATEMENT_STORAGE, STATEMENT_IMMUTABLE_FUNCTION], sqlite=[]
    )
