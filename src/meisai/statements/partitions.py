# ruff: noqa: S608 — the SQL is built only from the models' table names and checked months.
"""Usage lines and statements by billing month: PostgreSQL's declarative partitions.

Each month of each table is a partition of its own (``LIST`` on the 7-character
``billing_month``: ``statements_usageline_2025_04``, ``statements_statement_2025_04``), so a
month's reads and writes touch that month's indexes only, however many months have accumulated,
and ``meisai purge`` (:mod:`meisai.statements.purge`) removes a month by detaching and dropping
its partitions instead of deleting rows one by one through the guards. SQLite stays one table
each.

The Django models keep ``id`` as their primary key. PostgreSQL wants the partition key in every
unique constraint, so the table's primary key is ``(id, billing_month)``: ``id`` stays unique
because one sequence numbers every partition, and no table refers to these two. PostgreSQL 15
has no identity column on a partitioned table, so ``id`` takes its default from a plain sequence
owned by the column (``statements_usageline_id_seq``), which continues where the identity
stopped.

Who creates a month's partitions: the application role cannot create tables (docs/deployment.md,
"The two database roles"), so the owner provides ``meisai_month_partitions(month)``, a
``SECURITY DEFINER`` function with its ``search_path`` pinned, which creates the month's
partitions of both tables when they are missing and does nothing otherwise. The application may
only execute it (:func:`month_partitions_ensure`):

* the close of month M asks for M and M + 1 before its transaction begins, so the next month's
  import normally finds its partitions ready and creating them holds no lock for long;
* the usage import asks for every month its file brings, as a fallback (a first import, a file
  out of turn). That runs inside the import's transaction, and the locks taken by ``ATTACH``
  then last until it commits. Readers are not blocked, but the default partition is, and so is
  any other import or close that needs a new partition.

Why a default partition as well: every row must land somewhere. A writer that does not ask for
the month's partition first (the demo loader, test factories, a hand-written ``INSERT``) puts its
rows into ``…_default`` instead of failing with "no partition of relation found". The function
leaves a month in the default partition when the default already holds rows of it, because
``ATTACH`` would refuse. ``meisai purge`` refuses such a month rather than delete its rows past
the guards. In production the default stays empty: the close and the import always ask first.
Partitions are created with ``CREATE TABLE … (LIKE …)`` and then ``ATTACH PARTITION``, not with
``PARTITION OF``. ``ATTACH`` takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so the
statement pages keep reading while a month is added; ``PARTITION OF`` would take an ACCESS
EXCLUSIVE lock on the parent.

The triggers of ``meisai.statements.triggers`` are installed on the partitioned parents.
Row-level guards are cloned to each partition by PostgreSQL. Statement-level checks with
transition tables fire on the parent for every row an ``INSERT``, ``UPDATE`` or ``COPY`` routes
into a partition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import connection

from meisai.billing_calendar import BillingMonth
from meisai.clock import today_jst
from meisai.core.database_roles import application_role
from meisai.statements import triggers

#: The partitioned tables, in the order the function creates a month's partitions.
TABLES = ("statements_usageline", "statements_statement")
#: Storage of each table's partitions: statements keep room for publication's in-place update.
_STORAGE = {"statements_statement": f" WITH (fillfactor = {triggers.STATEMENT_FILLFACTOR})"}
#: First key of the advisory lock that serialises creating one partition ("pa" in ASCII).
_ADVISORY_NAMESPACE = 0x7061
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def partition_name(table: str, month: str) -> str:
    """``statements_usageline`` and ``2025-04`` → ``statements_usageline_2025_04``."""
    if not _MONTH.match(month):
        raise ValueError(f"not a billing month: {month!r}")
    return f"{table}_{month.replace('-', '_')}"


def default_partition(table: str) -> str:
    return f"{table}_default"


def _function_sql(schema: str) -> str:
    """The owner's function that creates a month's partitions; ``schema`` is quoted already."""
    arms = "\n".join(
        f"        WHEN '{table}' THEN storage := '{_STORAGE.get(table, '')}';" for table in TABLES
    )
    return rf"""
CREATE OR REPLACE FUNCTION meisai_month_partitions(month text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    parent text;
    part text;
    storage text;
    held boolean;
    grant_sql text;
    created boolean := false;
BEGIN
    -- The month becomes part of a table name: only a real YYYY-MM is accepted.
    IF month IS NULL OR month !~ '^[0-9]{{4}}-(0[1-9]|1[0-2])$' THEN
        RAISE EXCEPTION 'not a billing month: %', month USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH parent IN ARRAY ARRAY[{", ".join(f"'{t}'" for t in TABLES)}] LOOP
        part := parent || '_' || replace(month, '-', '_');
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        -- Two callers asking for the same new month: the second waits, then finds it. Asked
        -- of pg_class with a fresh snapshot: to_regclass reads a cache that taking an advisory
        -- lock does not refresh.
        PERFORM pg_advisory_xact_lock({_ADVISORY_NAMESPACE}, hashtext(part));
        CONTINUE WHEN EXISTS (SELECT 1 FROM pg_class c
                              WHERE c.relname = part AND c.relnamespace = '{schema}'::regnamespace);
        -- Rows of the month written before its partition existed stay in the default partition
        -- (ATTACH would refuse): the month then simply remains there.
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE billing_month = $1)',
                       parent || '_default') INTO held USING month;
        CONTINUE WHEN held;
        CASE parent
{arms}
        END CASE;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)%s',
                       part, parent, storage);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES IN (%L)',
                       parent, part, month);
        -- The parent's grants on the partition too: queries through the parent need none, but
        -- the application role's pg_dump reads and locks every partition (docs/deployment.md,
        -- "Backup and restore").
        FOR grant_sql IN
            SELECT format('GRANT %s ON %I TO %s', a.privilege_type, part,
                          CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                               ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
            FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = parent::regclass AND a.grantee <> c.relowner
        LOOP
            EXECUTE grant_sql;
        END LOOP;
        created := true;
    END LOOP;
    RETURN created;
END
$$;
"""


def month_partitions_ensure(months: Iterable[str]) -> None:
    """PostgreSQL: make sure each month has its partitions (the owner's function creates missing
    ones; an existing month costs two catalog lookups). Elsewhere nothing to do."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for month in sorted({str(m) for m in months}):
            cursor.execute("SELECT meisai_month_partitions(%s)", [month])


def partitioned_months() -> dict[str, dict[str, str]]:
    """PostgreSQL: month → {table: partition} of every month partition that exists."""
    found: dict[str, dict[str, str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT parent.relname, child.relname, pg_get_expr(child.relpartbound, child.oid)"
            " FROM pg_inherits i"
            " JOIN pg_class parent ON parent.oid = i.inhparent"
            " JOIN pg_class child ON child.oid = i.inhrelid"
            " WHERE parent.relname = ANY(%s)"
            " AND parent.relnamespace = to_regnamespace(current_schema())",
            [list(TABLES)],
        )
        for parent, child, bound in cursor.fetchall():
            values = re.findall(r"'([0-9]{4}-[0-9]{2})'", bound or "")
            for month in values:
                found.setdefault(month, {})[parent] = child
    return found


def partition_detach_and_drop(cursor: Any, table: str, partition: str) -> None:
    """As the owner, inside the purge's transaction: the partition leaves its table, then goes.

    Not ``DETACH … CONCURRENTLY``: PostgreSQL refuses it while the table has a default partition,
    and it cannot run inside the transaction that also writes the audit row. The plain DETACH
    holds an ACCESS EXCLUSIVE lock on the parent until the purge commits. That is a catalog
    change and an unlink, milliseconds, and the purge's ``lock_timeout`` bounds the wait for it.
    """
    quote = connection.ops.quote_name
    cursor.execute(f"ALTER TABLE {quote(table)} DETACH PARTITION {quote(partition)}")
    cursor.execute(f"DROP TABLE {quote(partition)}")


# --- the migration: existing tables become partitioned -------------------------------------------


def _execute(schema_editor: Any, sql: str, params: list[Any] | None = None) -> Any:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def install_function(schema_editor: Any) -> None:
    """The owner's function, executable by the application role only."""
    quote = schema_editor.connection.ops.quote_name
    (schema,) = _execute(schema_editor, "SELECT current_schema()")[0]
    _execute(schema_editor, _function_sql(quote(schema)))
    _execute(schema_editor, "REVOKE ALL ON FUNCTION meisai_month_partitions(text) FROM PUBLIC")
    role = application_role()
    if role is not None:
        _execute(
            schema_editor,
            f"GRANT EXECUTE ON FUNCTION meisai_month_partitions(text) TO {quote(role)}",
        )


def partition_tables(apps: Any, schema_editor: Any) -> None:
    """PostgreSQL: turn usage lines and statements into tables partitioned by billing month.

    Every row keeps its id and the ids continue where they stopped. Each table is renamed
    aside, and a partitioned table of the same columns takes its name, with a default partition
    and one partition per month found. The rows are copied month by month through the parent.
    The old table is dropped, and only then do the primary key, the unique constraints, the
    indexes and the triggers come back, built once on full partitions instead of row by row.
    SQLite: nothing changes.
    """
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.connection.ops.quote_name
    models = {
        "statements_usageline": apps.get_model("statements", "UsageLine"),
        "statements_statement": apps.get_model("statements", "Statement"),
    }
    for table in TABLES:
        _execute(schema_editor, f"LOCK TABLE {quote(table)} IN ACCESS EXCLUSIVE MODE")
    months: set[str] = set()
    for table in TABLES:
        aside = f"{table}_unpartitioned"
        sequence = f"{table}_id_seq"
        (identity,) = _execute(schema_editor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])[0]
        last_value, is_called = _execute(
            schema_editor, f"SELECT last_value, is_called FROM {identity}"
        )[0]
        _execute(schema_editor, f"ALTER TABLE {quote(table)} RENAME TO {quote(aside)}")
        _execute(schema_editor, f"ALTER TABLE {quote(aside)} ALTER COLUMN id DROP IDENTITY")
        _execute(
            schema_editor,
            f"CREATE TABLE {quote(table)} (LIKE {quote(aside)} INCLUDING DEFAULTS"
            " INCLUDING CONSTRAINTS) PARTITION BY LIST (billing_month)",
        )
        _execute(
            schema_editor,
            f"CREATE SEQUENCE {quote(sequence)} AS bigint OWNED BY {quote(table)}.id",
        )
        _execute(schema_editor, "SELECT setval(%s, %s, %s)", [sequence, last_value, is_called])
        _execute(
            schema_editor,
            f"ALTER TABLE {quote(table)} ALTER COLUMN id SET DEFAULT nextval('{sequence}')",
        )
        _execute(
            schema_editor,
            f"CREATE TABLE {quote(default_partition(table))} PARTITION OF {quote(table)}"
            f" DEFAULT{_STORAGE.get(table, '')}",
        )
        months |= {
            str(month)
            for (month,) in _execute(
                schema_editor, f"SELECT DISTINCT billing_month FROM {quote(aside)}"
            )
        }
    install_function(schema_editor)
    # This month and the next are ready before the first import of either.
    this_month = BillingMonth.of(today_jst())
    months |= {str(this_month), str(this_month.next())}
    for month in sorted(months):
        _execute(schema_editor, "SELECT meisai_month_partitions(%s)", [month])
    for table in TABLES:
        aside = f"{table}_unpartitioned"
        columns = ", ".join(quote(f.column) for f in models[table]._meta.concrete_fields)
        for month in sorted(months):
            _execute(
                schema_editor,
                f"INSERT INTO {quote(table)} ({columns}) SELECT {columns} FROM {quote(aside)}"
                " WHERE billing_month = %s",
                [month],
            )
        _execute(schema_editor, f"DROP TABLE {quote(aside)}")
        _execute(
            schema_editor,
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(table + '_pkey')}"
            " PRIMARY KEY (id, billing_month)",
        )
        model = models[table]
        for constraint in model._meta.constraints:
            # CHECK constraints came along with LIKE … INCLUDING CONSTRAINTS.
            if constraint.__class__.__name__ == "UniqueConstraint":
                schema_editor.add_constraint(model, constraint)
        for index in model._meta.indexes:
            schema_editor.add_index(model, index)
    for sql in triggers.POSTGRESQL_ON_OWN_TABLES:
        _execute(schema_editor, sql)
