"""What a first view of a statement costs in queries: the page and the PDF read the statement,
its lines (with their cards), its balances and its points, one query each, however many lines
and cards it has, and write the security event (and the PDF's digest). A query per line or per
card (an N+1) fails here, not only in ``bench/first_view.py``."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meisai.audit.models import SecurityEvent
from meisai.clock import JST
from meisai.statements.models import Statement, StatementBalance
from meisai.statements.pdf import PdfFingerprintMismatch, statement_pdf_fingerprint_check
from tests.factories import (
    AccountFactory,
    CardFactory,
    PointBalanceFactory,
    StatementFactory,
    statement_usage_line,
)

pytestmark = pytest.mark.django_db

APRIL_20 = dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST)

#: What every read of a first view queries, in order: the statement with its member, its lines
#: with their cards, its balances, its points.
READS = [
    "SELECT statements_statement",
    "SELECT statements_usageline",
    "SELECT statements_statementbalance",
    "SELECT points_pointbalance",
]
#: The logged-in request's own bookkeeping (the session, the account; in the tests' setup both
#: in the database), which is not the statement's.
REQUEST_TABLES = ("django_session", "accounts_account")


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


def _statement(account, *, lines: int, cards: int) -> Statement:
    card_rows = [
        CardFactory(member=account.member, number=f"49800000000{n:05d}") for n in range(cards)
    ]
    statement = StatementFactory(
        member=account.member,
        billing_month="2025-04",
        usage_total=1000 * lines,
        fee_total=165,
        line_count=lines + 1,
        confirmed_at=dt.datetime(2025, 4, 10, 3, 0, tzinfo=JST),
    )
    for n in range(lines):
        statement_usage_line(
            statement,
            line_no=n + 1,
            card=card_rows[n % cards],
            user_kind="本人" if n % 4 else "家族",
            use_amount=1000,
        )
    StatementBalance.objects.create(
        member=account.member,
        billing_month="2025-04",
        revolving_balance=12000,
        installment_balance=48000,
    )
    PointBalanceFactory(member=account.member, as_of=dt.date(2025, 3, 31))
    return statement


def _queries(client, path: str) -> list[str]:
    """The statement's queries of one request, each as its verb and first table."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    queries = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if "SAVEPOINT" in sql or any(f'"{table}"' in sql for table in REQUEST_TABLES):
            continue
        table = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', sql)
        queries.append(f"{sql.split()[0]} {table.group(1) if table else '?'}")
    return queries


@time_machine.travel(APRIL_20, tick=False)
@pytest.mark.parametrize(("lines", "cards"), [(3, 1), (30, 2), (90, 3)])
def test_a_first_view_reads_the_statement_in_four_queries_however_long_it_is(client, lines, cards):
    account = AccountFactory()
    _statement(account, lines=lines, cards=cards)
    client.force_login(account)

    queries = _queries(client, "/statements/2025-04/")

    # No query per line, card or user, and none of the member's row.
    assert queries == [*READS, "INSERT audit_securityevent"]
    assert SecurityEvent.objects.filter(kind="statement_viewed").count() == 1


@time_machine.travel(APRIL_20, tick=False)
def test_a_cached_view_reads_no_statement_but_still_records_the_view(client):
    account = AccountFactory()
    _statement(account, lines=30, cards=2)
    client.force_login(account)
    client.get("/statements/2025-04/")

    queries = _queries(client, "/statements/2025-04/")

    assert queries == ["INSERT audit_securityevent"]
    assert SecurityEvent.objects.filter(kind="statement_viewed").count() == 2


@time_machine.travel(APRIL_20, tick=False)
@pytest.mark.parametrize(("lines", "cards"), [(3, 1), (30, 2), (90, 3)])
def test_a_first_pdf_reads_the_statement_in_four_queries_and_records_its_digest(
    client, lines, cards
):
    account = AccountFactory()
    statement = _statement(account, lines=lines, cards=cards)
    client.force_login(account)

    queries = _queries(client, "/statements/2025-04.pdf")

    # The digest is recorded and not read back.
    assert queries == [*READS, "UPDATE statements_statement", "INSERT audit_securityevent"]
    statement.refresh_from_db()
    assert len(statement.pdf_sha256) == 64
    assert _queries(client, "/statements/2025-04.pdf") == [*READS, "INSERT audit_securityevent"]


@time_machine.travel(APRIL_20, tick=False)
def test_a_download_that_lost_the_race_to_record_the_digest_is_checked_against_the_winners():
    account = AccountFactory()
    statement = _statement(account, lines=3, cards=1)
    Statement.objects.filter(pk=statement.pk).update(pdf_sha256="0" * 64)

    # This request read the statement before the other one recorded its digest.
    assert statement.pdf_sha256 == ""
    with pytest.raises(PdfFingerprintMismatch):
        statement_pdf_fingerprint_check(statement=statement, pdf=b"%PDF-1.4 another rendering")

    assert statement.pdf_sha256 == "0" * 64
    assert Statement.objects.get(pk=statement.pk).pdf_sha256 == "0" * 64
