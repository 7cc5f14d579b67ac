"""Confirmed statements and the usage lines they are made of cannot change, in the database
itself; two closes cannot both run."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from meisai.billing_calendar import BillingMonth
from meisai.statements.models import MonthClose, Statement, StatementLine, UsageLine
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
    fee = confirmed.lines.get()
    refused("UPDATE statements_statementline SET billed_amount = 1 WHERE id = %s", [fee.pk])
    fee.refresh_from_db()
    assert (fee.kind, fee.billed_amount) == ("paper_fee", 165)


def usage_amounts() -> list[tuple[str, int, int]]:
    return list(
        UsageLine.objects.order_by("billing_month", "line_no").values_list(
            "billing_month", "line_no", "billed_amount"
        )
    )


def test_usage_lines_of_a_confirmed_statement_cannot_be_updated(confirmed):
    line = UsageLine.objects.get(member=confirmed.member, line_no=1)
    refused("UPDATE statements_usageline SET billed_amount = 1 WHERE id = %s", [line.pk])
    refused("UPDATE statements_usageline SET billing_month = '2025-05' WHERE id = %s", [line.pk])
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000)]


def test_a_usage_line_cannot_be_moved_into_a_confirmed_month(confirmed):
    later = UsageLineFactory(billing_month="2025-05", line_no=1, billed_amount=700)
    refused("UPDATE statements_usageline SET billing_month = '2025-04' WHERE id = %s", [later.pk])
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000), ("2025-05", 1, 700)]


def test_usage_lines_of_an_open_month_can_still_be_corrected(confirmed):
    # The guard is the statement, not the table: the core system's next month is not frozen.
    later = UsageLineFactory(billing_month="2025-05", line_no=1, billed_amount=700)
    UsageLine.objects.filter(pk=later.pk).update(billed_amount=800)
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000), ("2025-05", 1, 800)]


def test_no_usage_line_can_be_added_to_a_confirmed_month(confirmed):
    stranger = MemberFactory()
    for member in (confirmed.member, stranger):
        with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
            UsageLineFactory(member=member, billing_month="2025-04", line_no=3, billed_amount=1)
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000)]
    assert not Statement.objects.filter(member=stranger).exists()


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
    refused("DELETE FROM statements_usageline WHERE member_id = %s", [confirmed.member_id])
    assert StatementLine.objects.filter(statement=confirmed).count() == 1
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000)]


@postgres_only
def test_no_line_can_be_added_to_a_statement_of_a_confirmed_month(confirmed):
    with pytest.raises(IntegrityError), transaction.atomic():
        StatementLine.objects.create(
            statement=confirmed, line_no=9, merchant="後から", use_amount=1, billed_amount=1
        )
    assert confirmed.lines.count() == 1


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


def june_statement(member, *, total: int) -> Statement:
    return Statement.objects.create(
        member=member,
        billing_month="2025-06",
        delivery="paper",
        usage_total=total - 165,
        fee_total=165,
        total=total,
        line_count=2,
        debit_date=jst(2025, 6, 26).date(),
        confirmed_at=jst(2025, 6, 11),
    )


def check_totals_now() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS statement_total_matches_lines IMMEDIATE")


@postgres_only
def test_the_total_check_counts_the_members_usage_lines_of_the_month(db):
    member = MemberFactory()
    UsageLineFactory(member=member, billing_month="2025-06", line_no=1, billed_amount=1_000)
    # Another month and another member do not count.
    UsageLineFactory(member=member, billing_month="2025-05", line_no=1, billed_amount=50)
    UsageLineFactory(billing_month="2025-06", line_no=1, billed_amount=70)

    with transaction.atomic():
        statement = june_statement(member, total=1_165)
        StatementLine.objects.create(
            statement=statement, kind="paper_fee", line_no=2, merchant="fee",
            use_amount=165, billed_amount=165,
        )  # fmt: skip
        check_totals_now()
    assert Statement.objects.get(member=member).total == 1_165

    other = MemberFactory()
    UsageLineFactory(member=other, billing_month="2025-06", line_no=1, billed_amount=1_000)
    with (
        pytest.raises(
            IntegrityError,
            match=r"total 1165 differs from the sum of its lines 1000 \(usage 1000 \+ own 0\)",
        ),
        transaction.atomic(),
    ):
        june_statement(other, total=1_165)  # its fee line is missing
        check_totals_now()
    assert not Statement.objects.filter(member=other).exists()


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
