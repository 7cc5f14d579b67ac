"""On PostgreSQL usage lines and statements are partitioned by billing month
(``meisai.statements.partitions``): each month that the import or the close writes gets its own
partitions, made by the owner's function because the application role cannot create tables, and
the guards still hold on them. Run outside a test transaction and as the two roles, as
production runs."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import psycopg
import pytest
import time_machine
from django.conf import settings
from django.db import DatabaseError, ProgrammingError, connection, transaction

from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.core.database_roles import application_role
from meisai.statements.close import statement_close
from meisai.statements.models import Statement, UsageLine
from meisai.statements.partitions import month_partitions_ensure, partitioned_months
from tests.factories import MemberFactory, UsageLineFactory
from tests.imports.conftest import CARD_1, USAGE_HEADER, Importer, member_row, usage_row

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's partitions"),
    pytest.mark.django_db(transaction=True),
]


def _holder(table: str, row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [row_id])  # noqa: S608
        return cursor.fetchone()[0]


def test_both_tables_are_partitioned_by_billing_month_with_a_default_partition():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relkind, pg_get_partkeydef(c.oid) FROM pg_class c"
            " WHERE c.relname IN ('statements_usageline', 'statements_statement') ORDER BY 1"
        )
        assert cursor.fetchall() == [
            ("statements_statement", "p", "LIST (billing_month)"),
            ("statements_usageline", "p", "LIST (billing_month)"),
        ]
        cursor.execute(
            "SELECT pg_get_serial_sequence('statements_usageline', 'id'),"
            " pg_get_serial_sequence('statements_statement', 'id')"
        )
        assert cursor.fetchone() == (
            "public.statements_usageline_id_seq",
            "public.statements_statement_id_seq",
        )
    # A month nobody asked for still lands somewhere: the default partition.
    line = UsageLineFactory(billing_month="2031-01")
    assert _holder("statements_usageline", line.pk) == "statements_usageline_default"


@pytest.mark.skipif(application_role() is None, reason="two database roles")
def test_the_application_role_cannot_create_a_partition_but_the_owners_function_can():
    with (
        pytest.raises(ProgrammingError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "CREATE TABLE statements_usageline_2032_01 PARTITION OF statements_usageline"
            " FOR VALUES IN ('2032-01')"
        )
    month_partitions_ensure(["2032-01"])
    assert partitioned_months()["2032-01"] == {
        "statements_usageline": "statements_usageline_2032_01",
        "statements_statement": "statements_statement_2032_01",
    }
    month_partitions_ensure(["2032-01"])  # a second time changes nothing
    line = UsageLineFactory(billing_month="2032-01")
    assert _holder("statements_usageline", line.pk) == "statements_usageline_2032_01"


@pytest.mark.parametrize("month", ["2025-13", "2025-4", "2025-04'); DROP TABLE x; --", ""])
def test_the_function_takes_nothing_but_a_billing_month(month):
    with (
        pytest.raises(DatabaseError, match="not a billing month"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT meisai_month_partitions(%s)", [month])


def test_rows_keep_counting_ids_across_partitions():
    month_partitions_ensure(["2033-01", "2033-02"])
    first = UsageLineFactory(billing_month="2033-01")
    second = UsageLineFactory(billing_month="2033-02", member=first.member)
    assert second.pk == first.pk + 1
    assert _holder("statements_usageline", first.pk) == "statements_usageline_2033_01"
    assert _holder("statements_usageline", second.pk) == "statements_usageline_2033_02"


@time_machine.travel(dt.datetime(2025, 6, 13, 9, 0, tzinfo=JST), tick=False)
def test_the_close_writes_into_the_months_partition_and_makes_the_next_months():
    member = MemberFactory()
    month_partitions_ensure(["2025-06"])
    UsageLineFactory(member=member, billing_month="2025-06", billed_amount=5400)
    statement_close(month=BillingMonth(2025, 6), actor="t")
    statement = Statement.objects.get(member=member)
    assert _holder("statements_statement", statement.pk) == "statements_statement_2025_06"
    assert set(partitioned_months()["2025-07"]) == {"statements_usageline", "statements_statement"}
    # The guards hold on the partition: a confirmed statement and its lines stay as they are.
    with (
        pytest.raises(DatabaseError, match="confirmed statements cannot be changed"),
        transaction.atomic(),
    ):
        Statement.objects.filter(pk=statement.pk).update(total=1, usage_total=1)
    with (
        pytest.raises(DatabaseError, match="confirmed statements cannot be deleted"),
        transaction.atomic(),
    ):
        Statement.objects.filter(pk=statement.pk).delete()
    with (
        pytest.raises(DatabaseError, match="usage lines of a confirmed statement are immutable"),
        transaction.atomic(),
    ):
        UsageLine.objects.filter(member=member).update(billed_amount=1)
    with (
        pytest.raises(DatabaseError, match="cannot be added to a confirmed month"),
        transaction.atomic(),
    ):
        UsageLineFactory(member=member, billing_month="2025-06", line_no=99)


def test_the_usage_import_writes_a_new_month_into_its_own_partition(tmp_path):
    importer = Importer(tmp_path)
    importer.products()
    importer.members(member_row("M0000001", CARD_1))
    importer.run("usage", importer.write(USAGE_HEADER, usage_row(month="2034-03")))
    line = UsageLine.objects.get(billing_month="2034-03")
    assert _holder("statements_usageline", line.pk) == "statements_usageline_2034_03"


@pytest.mark.skipif(application_role() is None, reason="two database roles")
def test_the_migration_keeps_every_rows_id_and_the_ids_continue():
    """A database made before partitioning: migrated to statements 0004 with rows, then to the
    end. Every row keeps its id, lands in its month's partition, and the next id follows on."""
    dsn = connection.settings_dict
    owner = settings.MEISAI_MIGRATE_DATABASE["USER"]
    name = f"{dsn['NAME']}_conversion"
    base = f"{dsn['HOST'] or '127.0.0.1'}:{dsn['PORT'] or 5432}"
    urls = {
        "DATABASE_URL": f"postgres://{dsn['USER']}@{base}/{name}",
        "MEISAI_MIGRATE_DATABASE_URL": f"postgres://{owner}@{base}/{name}",
    }
    env = {**os.environ, **urls, "DJANGO_SETTINGS_MODULE": "meisai.settings"}

    def migrate(*target: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "meisai.cli", "migrate", *target, "-v0"],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )

    with psycopg.connect(
        urls["MEISAI_MIGRATE_DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", autocommit=True
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate("statements", "0004")
        with psycopg.connect(urls["DATABASE_URL"], autocommit=True) as app:
            app.execute(
                "INSERT INTO members_member (member_no, name_kanji, name_kana, birth_date,"
                " postal_code, address, email, status, fee_exempt, paper_required,"
                " program_excluded, created_at, updated_at) VALUES ('M0000001', '盛岡 太郎',"
                " 'モリオカ タロウ', '1980-01-01', '020-0021', '盛岡', '', 'active', false, false,"
                " false, now(), now())"
            )
            for month in ("2025-03", "2025-04", "2025-03"):
                app.execute(
                    "INSERT INTO statements_usageline (member_id, billing_month, line_no,"
                    " use_date, merchant, user_kind, payment_type, installment, use_amount,"
                    " billed_amount, note) SELECT id, %s, (SELECT count(*) + 1 FROM"
                    " statements_usageline), '2025-02-01', '盛岡百貨店', '本人', '1回', '', 100,"
                    " 100, '' FROM members_member",
                    [month],
                )
            # The last id used is gone: the ids must go on from the sequence, not from max(id).
            app.execute("DELETE FROM statements_usageline WHERE line_no = 3")
        migrate()
        with psycopg.connect(urls["DATABASE_URL"], autocommit=True) as app:
            rows = app.execute(
                "SELECT id, billing_month, tableoid::regclass::text FROM statements_usageline"
                " ORDER BY id"
            ).fetchall()
            assert rows == [
                (1, "2025-03", "statements_usageline_2025_03"),
                (2, "2025-04", "statements_usageline_2025_04"),
            ]
            (next_id,) = app.execute(
                "INSERT INTO statements_usageline (member_id, billing_month, line_no, use_date,"
                " merchant, user_kind, payment_type, installment, use_amount, billed_amount, note)"
                " SELECT id, '2025-04', 9, '2025-03-01', '花巻商店', '本人', '1回', '', 1, 1, ''"
                " FROM members_member RETURNING id"
            ).fetchone()
            assert next_id == 4
    finally:
        with psycopg.connect(
            urls["MEISAI_MIGRATE_DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", autocommit=True
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
