"""What a first view of a statement costs in queries: the page and the PDF read the statement
with its balances and its points in one query and its lines (with their cards) in another,
however many lines and cards it has, and write the security event (and the PDF's digest). A
query per line or per card (an N+1) fails here, not only in ``bench/first_view.py``."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meisai.audit.models import SecurityEvent
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.statements import selectors
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
MONTH = BillingMonth.parse("2025-04")

#: What every read of a first view queries, in order: the statement with its member, its
#: balances and its points (subqueries of the one query), then its lines with their cards.
READS = [
    "SELECT statements_statement",
    "SELECT statements_usageline",
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
        queries.append(f"{sql.split()[0]} {_table(sql)}")
    return queries


def _table(sql: str) -> str:
    """The table a query reads or writes: the first outside parentheses (a subquery's are not)."""
    depth = 0
    for match in re.finditer(r'[()]|(?:FROM|INTO|UPDATE) "(\w+)"', sql):
        if match.group(0) == "(":
            depth += 1
        elif match.group(0) == ")":
            depth -= 1
        elif depth == 0:
            return match.group(1)
    return "?"


@time_machine.travel(APRIL_20, tick=False)
@pytest.mark.parametrize(("lines", "cards"), [(3, 1), (30, 2), (90, 3)])
def test_a_first_view_reads_the_statement_in_two_queries_however_long_it_is(client, lines, cards):
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
def test_a_first_pdf_reads_the_statement_in_two_queries_and_records_its_digest(
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


@time_machine.travel(APRIL_20, tick=False)
@pytest.mark.parametrize("with_figures", [True, False])
def test_the_balances_and_points_read_with_the_statement_are_the_ones_read_on_their_own(
    with_figures,
):
    """The SQL twin of ``statement_points`` and ``statement_balance`` (subqueries of the
    statement's query) against the Python one, on the day boundary that matters: the statement
    confirmed at 00:30 in Japan (still the day before in UTC) states the balance of that day."""
    account = AccountFactory()
    statement = StatementFactory(
        member=account.member,
        billing_month="2025-04",
        confirmed_at=dt.datetime(2025, 4, 10, 0, 30, tzinfo=JST),
    )
    if with_figures:
        StatementBalance.objects.create(
            member=account.member,
            billing_month="2025-04",
            revolving_balance=12000,
            installment_balance=48000,
        )
        PointBalanceFactory(member=account.member, as_of=dt.date(2025, 4, 9), balance=100)
        PointBalanceFactory(member=account.member, as_of=dt.date(2025, 4, 10), balance=200)
        PointBalanceFactory(member=account.member, as_of=dt.date(2025, 4, 11), balance=300)
    on_their_own = Statement.objects.get(pk=statement.pk)

    with_statement = selectors.published_statement(member=account.member_id, month=MONTH)

    assert with_statement is not None
    folded = (
        selectors.statement_balance(statement=with_statement),
        selectors.statement_points(statement=with_statement),
    )
    separate = (
        selectors.statement_balance(statement=on_their_own),
        selectors.statement_points(statement=on_their_own),
    )
    fields = {
        0: ("pk", "revolving_balance", "installment_balance", "billing_month"),
        1: ("pk", "as_of", "balance", "expiring_points", "expires_on"),
    }
    for n, names in fields.items():
        if not with_figures:
            assert folded[n] is None and separate[n] is None
            continue
        assert [getattr(folded[n], f) for f in names] == [getattr(separate[n], f) for f in names]
    if with_figures:
        assert folded[1].balance == 200
