"""Confirmed statements and the usage lines they are made of cannot change, in the database
itself; two closes cannot both run."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from meisai.billing_calendar import BillingMonth
from meisai.statements.close import statement_close
from meisai.statements.models import MonthClose, Statement, UsageLine
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


def refused(statement_sql: str, params: list, *, because: str) -> None:
    """The database refuses ``statement_sql`` with a message that begins ``because`` (the same
    words on both databases; PostgreSQL adds the row)."""
    with (
        pytest.raises(IntegrityError) as error,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement_sql, params)
    assert str(error.value).startswith(because), str(error.value)


STATEMENT_FROZEN = "confirmed statements cannot be changed"
LINE_FROZEN = "usage lines of a confirmed statement are immutable"


# --- both databases: UPDATE and INSERT guards ---------------------------------------------------


def test_the_total_of_a_confirmed_statement_cannot_be_updated(confirmed):
    refused(
        "UPDATE statements_statement SET total = total + 1, usage_total = usage_total + 1 WHERE id = %s",
        [confirmed.pk],
        because=STATEMENT_FROZEN,
    )
    refused(
        "UPDATE statements_statement SET delivery = 'web' WHERE id = %s",
        [confirmed.pk],
        because=STATEMENT_FROZEN,
    )
    confirmed.refresh_from_db()
    assert (confirmed.total, confirmed.delivery) == (5_165, "paper")


def usage_amounts() -> list[tuple[str, int, int]]:
    return [
        (str(month), line_no, amount)
        for month, line_no, amount in UsageLine.objects.order_by(
            "billing_month", "line_no"
        ).values_list("billing_month", "line_no", "billed_amount")
    ]


def test_usage_lines_of_a_confirmed_statement_cannot_be_updated(confirmed):
    line = UsageLine.objects.get(member=confirmed.member, line_no=1)
    refused(
        "UPDATE statements_usageline SET billed_amount = 1 WHERE id = %s",
        [line.pk],
        because=LINE_FROZEN,
    )
    refused(
        "UPDATE statements_usageline SET billing_month = '2025-05' WHERE id = %s",
        [line.pk],
        because=LINE_FROZEN,
    )
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000)]


def test_a_usage_line_cannot_be_moved_into_a_confirmed_month(confirmed):
    later = UsageLineFactory(billing_month="2025-05", line_no=1, billed_amount=700)
    refused(
        "UPDATE statements_usageline SET billing_month = '2025-04' WHERE id = %s",
        [later.pk],
        because=LINE_FROZEN,
    )
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000), ("2025-05", 1, 700)]


def test_usage_lines_of_an_open_month_can_still_be_corrected(confirmed):
    # The guard is the statement, not the table: the core system's next month is not frozen.
    later = UsageLineFactory(billing_month="2025-05", line_no=1, billed_amount=700)
    UsageLine.objects.filter(pk=later.pk).update(billed_amount=800)
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000), ("2025-05", 1, 800)]


def test_no_usage_line_can_be_added_to_a_confirmed_month(confirmed):
    stranger = MemberFactory()
    for member in (confirmed.member, stranger):
        with (
            pytest.raises(
                IntegrityError, match="^usage lines cannot be added to a confirmed month"
            ),
            transaction.atomic(),
        ):
            UsageLineFactory(member=member, billing_month="2025-04", line_no=3, billed_amount=1)
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000)]
    assert not Statement.objects.filter(member=stranger).exists()


def test_no_statement_can_be_added_to_a_confirmed_month(confirmed):
    # Nor one matching its lines: after the close, the month's statements are the close's alone.
    stranger = MemberFactory()
    with (
        pytest.raises(IntegrityError, match="^statements cannot be added to a confirmed month"),
        transaction.atomic(),
    ):
        Statement.objects.create(
            member=stranger,
            billing_month="2025-04",
            delivery="web",
            usage_total=0,
            total=0,
            line_count=0,
            debit_date=jst(2025, 4, 28).date(),
            confirmed_at=jst(2025, 4, 11),
        )
    assert list(Statement.objects.values_list("member_id", flat=True)) == [confirmed.member_id]


def test_published_at_and_pdf_digest_are_written_once(confirmed):
    Statement.objects.filter(pk=confirmed.pk).update(published_at=jst(2025, 4, 14, 9, 0))
    Statement.objects.filter(pk=confirmed.pk).update(pdf_sha256="a" * 64)

    # SQLite says it in general words; PostgreSQL names the statement and what is set already.
    sqlite = connection.vendor == "sqlite"
    refused(
        "UPDATE statements_statement SET published_at = NULL WHERE id = %s",
        [confirmed.pk],
        because=STATEMENT_FROZEN if sqlite else f"statement {confirmed.pk} is already published",
    )
    refused(
        "UPDATE statements_statement SET pdf_sha256 = %s WHERE id = %s",
        ["b" * 64, confirmed.pk],
        because=STATEMENT_FROZEN
        if sqlite
        else f"statement {confirmed.pk} already has its PDF digest",
    )

    confirmed.refresh_from_db()
    assert (confirmed.published_at, confirmed.pdf_sha256) == (jst(2025, 4, 14, 9, 0), "a" * 64)


# --- PostgreSQL: DELETE guards, concurrent closes -------------------------------------------------


@postgres_only
def test_confirmed_statements_and_lines_cannot_be_deleted(confirmed):
    refused(
        "DELETE FROM statements_statement WHERE id = %s",
        [confirmed.pk],
        because="confirmed statements cannot be deleted",
    )
    refused(
        "DELETE FROM statements_usageline WHERE member_id = %s",
        [confirmed.member_id],
        because=LINE_FROZEN,
    )
    assert Statement.objects.filter(pk=confirmed.pk).exists()
    assert usage_amounts() == [("2025-04", 1, 3_000), ("2025-04", 2, 2_000)]


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
