"""Migration 0010 drops the statement-line table only when it holds nothing but copies of the
statements' fees."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import MemberFactory

BEFORE = [("statements", "0009_close_verifies_totals")]
AFTER = [("statements", "0010_paper_fee_on_the_statement")]


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def statement_with_fee_line(*, fee_total: int, line_amount: int) -> None:
    member = MemberFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO statements_statement (member_id, billing_month, delivery, usage_total,"
            " fee_total, total, line_count, points_granted, debit_date, confirmed_at,"
            " pdf_sha256) VALUES (%s, '2025-04', 'paper', 0, %s, %s, 1, 0, '2025-04-28',"
            " '2025-04-11', '')",
            [member.pk, fee_total, fee_total],
        )
        cursor.execute("SELECT id FROM statements_statement WHERE member_id = %s", [member.pk])
        (statement_id,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO statements_statementline (statement_id, kind, line_no, merchant,"
            " user_kind, payment_type, installment, use_amount, billed_amount, note)"
            " VALUES (%s, 'paper_fee', 1, '紙明細発行手数料(税込)', '', '', '', %s, %s, '')",
            [statement_id, line_amount, line_amount],
        )


def empty(table: str) -> None:
    """Statements and lines refuse DELETE on PostgreSQL; TRUNCATE fires no row guard."""
    verb = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
    with connection.cursor() as cursor:
        cursor.execute(f"{verb} {table}")


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        return name in connection.introspection.table_names(cursor)


@pytest.fixture
def before_0010(transactional_db):
    migrate(BEFORE)
    yield
    if table_exists("statements_statementline"):  # back to the latest schema
        empty("statements_statementline")
        empty("statements_statement")
        migrate(AFTER)


def test_fee_lines_that_copy_the_statements_fee_are_dropped(before_0010):
    statement_with_fee_line(fee_total=165, line_amount=165)

    migrate(AFTER)

    assert not table_exists("statements_statementline")


def test_a_line_the_statement_does_not_say_stops_the_migration(before_0010):
    statement_with_fee_line(fee_total=165, line_amount=160)

    with pytest.raises(RuntimeError, match="differ from their statement's fee_total"):
        migrate(AFTER)

    assert table_exists("statements_statementline")


def test_a_fee_without_its_line_stops_the_migration(before_0010):
    statement_with_fee_line(fee_total=165, line_amount=165)
    empty("statements_statementline")

    with pytest.raises(RuntimeError, match="carry a fee without a fee line"):
        migrate(AFTER)
