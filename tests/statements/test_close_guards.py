"""Confirmed statements cannot change, in the database itself; two closes cannot both run."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from meisai.billing_calendar import BillingMonth
from meisai.statements.models import MonthClose, Statement, StatementLine
from meisai.statements.services import statement_close
from tests.factories import MemberFactory, UsageLineFactory
from tests.statements.cycle import close, jst

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL triggers and locks"
)


@pytest.fixture
def confirmed(db):
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-04", line_no=1, billed_amount=3_000)
    UsageLineFactory(member=member, billing_month="2025-04", line_no=2, billed_amount=2_000)
    close("2025-04")
    return Statement.objects.get(member=member)


def refused(statement_sql: str, params: list) -> None:
    with (
        pytest.raises((IntegrityError, DatabaseError)),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement_sql, params)


# --- both databases: UPDATE guards --------------------------------------------------------------


def test_the_total_of_a_confirmed_statement_cannot_be_updated(confirmed):
    refused(
        "UPDATE statements_statement SET total = total + 1, usage_total = usage_total + 1 WHERE id = %s",
        [confirmed.pk],
    )
    refused("UPDATE statements_statement SET delivery = 'web' WHERE id = %s", [confirmed.pk])
    confirmed.refresh_from_db()
    assert (confirmed.total, confirmed.delivery) == (5_165, "paper")


def test_statement_lines_cannot_be_updated(confirmed):
    line = confirmed.lines.get(line_no=1)
    refused("UPDATE statements_statementline SET billed_amount = 1 WHERE id = %s", [line.pk])
    line.refresh_from_db()
    assert line.billed_amount == 3_000


def test_published_at_and_pdf_digest_are_written_once(confirmed):
    Statement.objects.filter(pk=confirmed.pk).update(published_at=jst(2025, 4, 14, 9, 0))
    Statement.objects.filter(pk=confirmed.pk).update(pdf_sha256="a" * 64)

    refused("UPDATE statements_statement SET published_at = NULL WHERE id = %s", [confirmed.pk])
    refused(
        "UPDATE statements_statement SET pdf_sha256 = %s WHERE id = %s", ["b" * 64, confirmed.pk]
    )

    confirmed.refresh_from_db()
    assert (confirmed.published_at, confirmed.pdf_sha256) == (jst(2025, 4, 14, 9, 0), "a" * 64)


# --- PostgreSQL: DELETE guards, new lines, the deferred total check ------------------------------


@postgres_only
def test_confirmed_statements_and_lines_cannot_be_deleted(confirmed):
    refused("DELETE FROM statements_statementline WHERE statement_id = %s", [confirmed.pk])
    refused("DELETE FROM statements_statement WHERE id = %s", [confirmed.pk])
    assert StatementLine.objects.filter(statement=confirmed).count() == 3


@postgres_only
def test_no_line_can_be_added_to_a_statement_of_a_confirmed_month(confirmed):
    with pytest.raises(IntegrityError), transaction.atomic():
        StatementLine.objects.create(
            statement=confirmed, line_no=9, merchant="後から", use_amount=1, billed_amount=1
        )
    assert confirmed.lines.count() == 3


@postgres_only
def test_a_statement_whose_total_differs_from_its_lines_cannot_be_committed(db):
    member = MemberFactory()
    with (
        pytest.raises(IntegrityError, match="differs from the sum of its lines"),
        transaction.atomic(),
    ):
        statement = Statement.objects.create(
            member=member,
            billing_month="2025-06",
            delivery="web",
            usage_total=1_000,
            total=1_000,
            line_count=1,
            debit_date=jst(2025, 6, 26).date(),
            confirmed_at=jst(2025, 6, 11),
        )
        StatementLine.objects.create(
            statement=statement, line_no=1, merchant="x", use_amount=999, billed_amount=999
        )
        # The check is deferred to commit; force it now inside the test's transaction.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS statement_total_matches_lines IMMEDIATE")
    assert not Statement.objects.filter(billing_month="2025-06").exists()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_closes_at_once_cannot_both_run():
    member = MemberFactory()
    for line_no in range(1, 51):
        UsageLineFactory(member=member, billing_month="2025-04", line_no=line_no, billed_amount=100)
    for _ in range(200):
        UsageLineFactory(billing_month="2025-04", line_no=1, billed_amount=10)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            result = statement_close(month=BillingMonth(2025, 4), actor="thread")
            outcomes.append(result.outcome)
        except BaseException as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(outcomes) == ["already_confirmed", "confirmed"]
    assert Statement.objects.filter(billing_month="2025-04").count() == 201
    assert MonthClose.objects.get().statements == 201
