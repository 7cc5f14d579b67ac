"""The staff dashboard (``/backoffice/``): every figure equals a direct query of the data.

Each test builds data with factories, computes the expected figure with its own plain query (a
count or sum over one month's range, not the dashboard's grouped query), and compares it with
the selector's output and with the number printed in the page. Months are the calendar month in
JST for registrations and emails, the billing month for statements.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

import factory
import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from factory.django import DjangoModelFactory

from meisai.accounts.models import Consent, Registration
from meisai.audit.models import SecurityEvent
from meisai.backoffice.dashboard import dashboard_figures
from meisai.backoffice.roles import Role
from meisai.billing_calendar import BillingMonth
from meisai.clock import JST
from meisai.core.models import Job
from meisai.imports.models import ImportBatch
from meisai.members.models import Member
from meisai.notifications.models import OutboxMessage
from meisai.points.models import Campaign, PointEntry
from meisai.statements.models import Statement
from tests.backoffice.conftest import signed_in, staff_account
from tests.factories import AccountFactory, MemberFactory, StatementFactory

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2025, 6, 20, 12, 0, tzinfo=JST)
MONTHS = [f"2024-{m}" for m in ("11", "12")] + [f"2025-0{m}" for m in range(1, 7)]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=JST)


class ConsentFactory(DjangoModelFactory):
    class Meta:
        model = Consent

    terms_version = "2024-11"
    agreed_at = factory.LazyFunction(lambda: at("2025-01-01T10:00"))
    registration_key = factory.Sequence(lambda n: f"consent-{n}")


class RegistrationFactory(DjangoModelFactory):
    """A registration at step 4 (the 登録手続きURL sent); pass the later fields for later steps."""

    class Meta:
        model = Registration

    consent = factory.SubFactory(ConsentFactory)
    email = factory.Sequence(lambda n: f"registrant{n}@example.jp")
    email_token_hash = factory.Sequence(lambda n: f"{n:064d}")
    email_token_expires_at = factory.LazyAttribute(lambda r: r.created_at + dt.timedelta(days=1))
    created_at = factory.LazyFunction(lambda: at("2025-01-01T10:00"))


def completed(moment: str) -> Registration:
    done = at(moment)
    return RegistrationFactory(
        state=Registration.State.COMPLETED,
        created_at=done - dt.timedelta(hours=1),
        email_token_used_at=done - dt.timedelta(minutes=50),
        completion_token_expires_at=done + dt.timedelta(days=1),
        completed_at=done,
    )


class OutboxFactory(DjangoModelFactory):
    class Meta:
        model = OutboxMessage

    key = factory.Sequence(lambda n: f"mail-{n}")
    template = "statement_confirmed"
    to = factory.Sequence(lambda n: f"to{n}@example.jp")
    subject = "請求額確定のお知らせ"
    stored_text = "本文"
    next_attempt_at = factory.LazyAttribute(lambda m: m.created_at)


class CampaignFactory(DjangoModelFactory):
    class Meta:
        model = Campaign

    code = factory.Sequence(lambda n: f"campaign-{n}")
    name = "WEB明細切替キャンペーン"
    window_start = factory.LazyFunction(lambda: at("2024-11-13T00:00"))
    window_end = factory.LazyFunction(lambda: at("2025-02-28T23:59:59"))
    points = 1000
    grant_month = "2025-04"


class GrantFactory(DjangoModelFactory):
    class Meta:
        model = PointEntry

    member = factory.SubFactory(MemberFactory)
    kind = PointEntry.Kind.CAMPAIGN
    campaign = factory.SubFactory(CampaignFactory)
    points = factory.LazyAttribute(lambda e: e.campaign.points)
    billing_month = factory.LazyAttribute(lambda e: e.campaign.grant_month)
    description = "キャンペーン付与"
    recorded_at = factory.LazyFunction(lambda: at("2025-04-10T03:00"))


def failure(reason: str) -> SecurityEvent:
    return SecurityEvent.objects.create(
        at=at("2025-03-01T10:00"),
        kind="registration_failed",
        member=MemberFactory(),
        client="192.0.2.1",
        request_id="r",
        detail={"reason": reason},
    )


@pytest.fixture
def data():
    """A little of everything, with rows on the edges of months and before the service start."""
    # Registrations: JST month edges, one before the start, and the steps of the funnel.
    completed("2024-10-31T23:00")  # before the service start: funnel only
    completed("2024-12-05T10:00")
    completed("2025-04-30T23:30")
    completed("2025-05-01T00:30")  # 2025-04-30 15:30 UTC: May in JST
    RegistrationFactory()  # started only
    RegistrationFactory(state="verified", email_token_used_at=at("2025-02-01T10:00"))
    RegistrationFactory(
        state="cancelled",
        email_token_used_at=at("2025-02-01T10:00"),
        completion_token_expires_at=at("2025-02-02T10:00"),
        cancelled_at=at("2025-02-01T12:00"),
    )
    # Statements by billing month.
    StatementFactory(billing_month="2024-10", delivery="paper")  # before the start
    for delivery in ("web", "web", "paper"):
        StatementFactory(billing_month="2024-11", delivery=delivery)
    StatementFactory(billing_month="2025-04", delivery="web")
    for _ in range(2):
        StatementFactory(billing_month="2025-04", delivery="paper", fee_total=165)
    StatementFactory(billing_month="2025-05", delivery="paper", fee_total=165)
    StatementFactory(billing_month="2025-05", delivery="paper", fee_total=0)  # exempt
    # Campaign grants.
    first = CampaignFactory(code="web-2024")
    GrantFactory.create_batch(3, campaign=first)
    GrantFactory(campaign=CampaignFactory(code="spring", points=500, grant_month="2025-05"))
    # Failed identity checks (and an unrelated security event).
    for reason in ("card_data", "card_data", "phone", "phone", "phone", "card_locked"):
        failure(reason)
    SecurityEvent.objects.create(
        at=at("2025-03-01T10:00"), kind="login", member=MemberFactory(), client="-", request_id="-"
    )
    # Emails by JST month and state.
    for status in ("sent", "sent", "failed"):
        OutboxFactory(created_at=at("2025-04-10T09:00"), status=status)
    OutboxFactory(created_at=at("2025-05-31T23:59"), status="pending")
    OutboxFactory(created_at=at("2025-06-01T00:10"), status="sent")  # 05-31 UTC: June in JST


def month_range(month: str) -> tuple[dt.datetime, dt.datetime]:
    first = BillingMonth.parse(month)
    after = first.next()
    return (
        dt.datetime(first.year, first.month, 1, tzinfo=JST),
        dt.datetime(after.year, after.month, 1, tzinfo=JST),
    )


def printed(page: str, cell_id: str) -> str:
    match = re.search(rf'id="{re.escape(cell_id)}">([^<]*)<', page)
    assert match, cell_id
    return match.group(1)


def printed_int(page: str, cell_id: str) -> int:
    return int(printed(page, cell_id).replace(",", "").removesuffix("円"))


@pytest.fixture
def page(data, staff_client):
    with time_machine.travel(TODAY, tick=False):
        response = staff_client(Role.AUDITOR).get("/backoffice/")
    assert response.status_code == 200
    return response


@pytest.fixture
def figures(data):
    with time_machine.travel(TODAY, tick=False):
        return dashboard_figures()


def by_month(figures):
    return {str(m.month): m for m in figures.months}


def test_the_months_run_from_the_service_start_to_this_month(figures):
    assert [str(m.month) for m in figures.months] == MONTHS


def test_web_registrations_per_month_equal_a_direct_count(figures, page):
    html, months = page.content.decode(), by_month(figures)
    expected = {}
    for month in MONTHS:
        start, end = month_range(month)
        expected[month] = Registration.objects.filter(
            completed_at__gte=start, completed_at__lt=end
        ).count()
    assert {m: months[m].registrations for m in MONTHS} == expected
    assert {m: printed_int(html, f"registrations-{m}") for m in MONTHS} == expected
    # The JST edges: 2025-04-30 23:30 is April, 2025-05-01 00:30 JST is May.
    assert (expected["2024-12"], expected["2025-04"], expected["2025-05"]) == (1, 1, 1)


def test_statements_web_share_paper_and_fees_equal_direct_queries(figures, page):
    html, months = page.content.decode(), by_month(figures)
    for month in MONTHS:
        of_month = Statement.objects.filter(billing_month=month)
        total = of_month.count()
        web = of_month.filter(delivery="web").count()
        paper = of_month.filter(delivery="paper").count()
        fees = of_month.aggregate(fees=Sum("fee_total"))["fees"] or 0
        shown = months[month]
        assert (shown.statements, shown.web_statements, shown.paper_statements) == (
            total,
            web,
            paper,
        )
        assert shown.fee_revenue == fees
        assert printed_int(html, f"statements-{month}") == total
        assert printed_int(html, f"web-{month}") == web
        assert printed_int(html, f"paper-{month}") == paper
        assert printed_int(html, f"fees-{month}") == fees
        if total:
            share = (Decimal(web) * 100 / total).quantize(Decimal("0.1"), ROUND_HALF_UP)
            assert shown.web_share == share
            assert printed(html, f"web-share-{month}") == f"{share}%"
        else:
            assert shown.web_share is None
            assert printed(html, f"web-share-{month}") == "-"
    assert (months["2024-11"].web_share, months["2025-04"].web_share) == (
        Decimal("66.7"),
        Decimal("33.3"),
    )
    assert (months["2025-04"].fee_revenue, months["2025-05"].fee_revenue) == (330, 165)


def test_campaign_grants_equal_a_direct_query(figures, page):
    html = page.content.decode()
    expected = {
        (c.code, str(month)): (
            PointEntry.objects.filter(campaign=c, billing_month=month).count(),
            PointEntry.objects.filter(campaign=c, billing_month=month).aggregate(s=Sum("points"))[
                "s"
            ],
        )
        for c in Campaign.objects.all()
        for month in {c.grant_month}
    }
    shown = {(g.code, str(g.month)): (g.members, g.points) for g in figures.campaigns}
    assert (
        shown == expected == {("web-2024", "2025-04"): (3, 3000), ("spring", "2025-05"): (1, 500)}
    )
    for (code, month), (members, points) in expected.items():
        assert printed_int(html, f"grant-members-{code}-{month}") == members
        assert printed_int(html, f"grant-points-{code}-{month}") == points


def test_the_registration_funnel_equals_direct_counts(figures, page):
    html = page.content.decode()
    expected = {
        "started": Registration.objects.count(),
        "identity_passed": Registration.objects.exclude(email_token_used_at=None).count(),
        "completion_sent": Registration.objects.exclude(completion_token_expires_at=None).count(),
        "completed": Registration.objects.filter(state="completed").count(),
    }
    assert {key: count for key, _, count in figures.funnel.steps()} == expected
    assert expected == {"started": 7, "identity_passed": 6, "completion_sent": 5, "completed": 4}
    assert {key: printed_int(html, f"funnel-{key}") for key in expected} == expected


def test_failure_reasons_equal_direct_counts(figures, page):
    html = page.content.decode()
    expected = {
        reason: SecurityEvent.objects.filter(
            kind="registration_failed", detail__reason=reason
        ).count()
        for reason in ("card_data", "phone", "card_locked")
    }
    assert {f.reason: f.count for f in figures.failures} == expected
    assert expected == {"card_data": 2, "phone": 3, "card_locked": 1}
    assert {r: printed_int(html, f"failure-{r}") for r in expected} == expected
    assert "電話番号の不一致" in html


def test_emails_per_month_equal_direct_counts(figures, page):
    html, months = page.content.decode(), by_month(figures)
    for month in MONTHS:
        start, end = month_range(month)
        queued = OutboxMessage.objects.filter(created_at__gte=start, created_at__lt=end)
        expected = tuple(queued.filter(status=s).count() for s in ("sent", "failed", "pending"))
        shown = months[month]
        assert (shown.emails_sent, shown.emails_failed, shown.emails_pending) == expected
        assert (
            printed_int(html, f"emails-sent-{month}"),
            printed_int(html, f"emails-failed-{month}"),
            printed_int(html, f"emails-pending-{month}"),
        ) == expected
    assert (months["2025-04"].emails_sent, months["2025-05"].emails_pending) == (2, 1)
    assert months["2025-06"].emails_sent == 1


def test_the_at_a_glance_figures_remain(staff_client):
    AccountFactory(member=MemberFactory())
    AccountFactory(member=MemberFactory(), is_active=False)
    MemberFactory(status=Member.Status.CANCELLED, cancelled_on=dt.date(2025, 1, 31))
    OutboxFactory(created_at=at("2025-06-13T09:00"), status="pending")
    OutboxFactory(created_at=at("2025-06-13T09:00"), status="failed")
    ImportBatch.objects.create(
        kind="usage",
        file_name="usage-2025-06.csv",
        file_sha256="0" * 64,
        status="done",
        rows=120,
        started_at=at("2025-06-10T09:00"),
    )
    Job.objects.create(kind="publish", queued_at=at("2025-06-13T06:00"))

    html = staff_client(Role.OPERATOR).get("/backoffice/").content.decode()

    assert printed_int(html, "members") == Member.objects.count() == 3
    assert printed_int(html, "active-members") == Member.objects.filter(status="active").count()
    assert printed_int(html, "web-accounts") == 1
    assert (printed_int(html, "outbox-pending"), printed_int(html, "outbox-failed")) == (1, 1)
    assert "usage-2025-06.csv" in html and "publish" in html


def test_one_query_per_series_not_per_month(data):
    with time_machine.travel(TODAY, tick=False), CaptureQueriesContext(connection) as short:
        dashboard_figures()
    later = dt.datetime(2027, 6, 20, 12, 0, tzinfo=JST)
    with time_machine.travel(later, tick=False), CaptureQueriesContext(connection) as long:
        figures = dashboard_figures()
    assert len(figures.months) == 32
    assert len(long.captured_queries) == len(short.captured_queries) <= 12


def test_the_charts_are_inline_svg_without_scripts_or_style_attributes(page):
    html = page.content.decode()
    assert html.count("<svg") == 7
    assert "<script" not in html
    assert "style=" not in html
    assert 'id="chart-registrations-title">月別WEBサービス登録数</title>' in html
    # The description lists every month's value for a screen reader.
    assert "WEB登録: 2024-11 0、2024-12 1" in html


def test_every_staff_role_sees_the_dashboard(data, staff_client):
    for role in Role:
        client = signed_in(staff_account(role, login_id=f"dash-{role.value}"))
        assert client.get("/backoffice/").status_code == 200, role


def test_the_dashboard_is_for_staff_only(client):
    anonymous = client.get("/backoffice/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/backoffice/login/")

    client.force_login(AccountFactory(), backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/backoffice/").status_code == 404

    unverified = Client()
    unverified.force_login(
        staff_account(Role.ADMINISTRATOR), backend="django.contrib.auth.backends.ModelBackend"
    )
    assert unverified.get("/backoffice/")["Location"].startswith("/backoffice/login/")
