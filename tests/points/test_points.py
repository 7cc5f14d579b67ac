"""Campaigns as data (load, defaults, admin) and the point summary the member pages show."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command

from meisai.audit.models import AuditEntry
from meisai.billing_calendar import BillingMonth
from meisai.points.models import Campaign, PointEntry
from meisai.points.selectors import PointHistoryEntry, point_summary
from meisai.points.services import CampaignRefused, campaign_load_defaults, campaign_upsert
from tests.backoffice.conftest import second_factor_passed
from tests.factories import (
    AccountFactory,
    DeliveryPreferenceFactory,
    MemberFactory,
    PointBalanceFactory,
    ProductFactory,
)
from tests.statements.cycle import close, jst

pytestmark = pytest.mark.django_db


# --- the flyer's campaign ----------------------------------------------------------------------


def test_defaults_create_the_flyer_campaign_once_with_iris_excluded():
    ProductFactory(code="IRIS", name="IRISカード", program_excluded=True)

    first = campaign_load_defaults(actor="test")
    second = campaign_load_defaults(actor="test")

    assert first.pk == second.pk and Campaign.objects.count() == 1
    assert first.code == "web-early-2024"
    assert (first.window_start, first.window_end) == (
        jst(2024, 11, 13, 0, 0, 0),
        jst(2025, 2, 28, 23, 59, 59),
    )
    assert (first.points, first.grant_month) == (1000, BillingMonth(2025, 4))
    assert list(first.excluded_products.values_list("code", flat=True)) == ["IRIS"]


def test_defaults_without_an_iris_product_exclude_nothing():
    assert list(campaign_load_defaults(actor="test").excluded_products.all()) == []


# --- loading campaigns from files ------------------------------------------------------------


def test_load_csv_creates_and_updates_campaigns(tmp_path, capsys):
    ProductFactory(code="IRIS", program_excluded=True)
    ProductFactory(code="GOLD")
    path = tmp_path / "campaigns.csv"
    path.write_text(
        "code,name,window_start,window_end,points,grant_month,excluded_products\n"
        "spring-2025,春のWEB登録キャンペーン,2025-03-01,2025-05-31,500,2025-07,IRIS GOLD\n"
        "summer-2025,夏,2025-06-01 09:00,2025-06-30 18:00:00+09:00,300,2025-08,\n",
        encoding="utf-8",
    )

    call_command("campaigns", "load", str(path))

    spring = Campaign.objects.get(code="spring-2025")
    assert (spring.window_start, spring.window_end) == (
        jst(2025, 3, 1, 0, 0),
        jst(2025, 5, 31, 23, 59, 59),
    )
    assert (spring.points, spring.grant_month) == (500, BillingMonth(2025, 7))
    assert sorted(spring.excluded_products.values_list("code", flat=True)) == ["GOLD", "IRIS"]
    summer = Campaign.objects.get(code="summer-2025")
    assert (summer.window_start, summer.window_end) == (
        jst(2025, 6, 1, 9, 0),
        jst(2025, 6, 30, 18, 0),
    )
    out = capsys.readouterr().out
    assert "2 campaign(s) loaded" in out
    assert "spring-2025\t春のWEB登録キャンペーン\t2025-03-01 00:00:00〜2025-05-31 23:59:59" in out

    path.write_text(
        "code,name,window_start,window_end,points,grant_month,excluded_products\n"
        "spring-2025,春のWEB登録キャンペーン,2025-03-01,2025-05-31,800,2025-07,\n",
        encoding="utf-8",
    )
    call_command("campaigns", "load", str(path))
    spring.refresh_from_db()
    assert spring.points == 800 and list(spring.excluded_products.all()) == []
    assert Campaign.objects.count() == 2


def test_load_json(tmp_path):
    path = tmp_path / "campaigns.json"
    path.write_text(
        json.dumps(
            [
                {
                    "code": "autumn",
                    "name": "秋",
                    "window_start": "2025-09-01T00:00:00+09:00",
                    "window_end": "2025-09-30",
                    "points": 200,
                    "grant_month": "2025-11",
                    "excluded_products": [],
                }
            ]
        ),
        encoding="utf-8",
    )
    call_command("campaigns", "load", str(path))
    autumn = Campaign.objects.get(code="autumn")
    assert autumn.window_end == jst(2025, 9, 30, 23, 59, 59)


def test_a_bad_file_reports_every_problem_and_loads_nothing(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "code,name,window_start,window_end,points,grant_month,excluded_products\n"
        "ok,良い,2025-03-01,2025-05-31,500,2025-07,\n"
        "bad,悪い,2025-13-01,2025-05-31,-5,2025/07,\n"
        "backwards,逆,2025-05-31,2025-03-01,100,2025-07,\n",
        encoding="utf-8",
    )

    with pytest.raises(CommandError) as error:
        call_command("campaigns", "load", str(path))

    assert str(error.value).splitlines() == [
        f"{path}: line 3: column window_start: not a date-time: '2025-13-01'",
        f"{path}: line 3: column points: must be positive: '-5'",
        f"{path}: line 3: column grant_month: not YYYY-MM: '2025/07'",
        f"{path}: line 4: window_end is before window_start",
    ]
    assert Campaign.objects.count() == 0


def test_an_unknown_excluded_product_loads_nothing(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        "code,name,window_start,window_end,points,grant_month,excluded_products\n"
        "a,A,2025-03-01,2025-05-31,500,2025-07,\n"
        "b,B,2025-03-01,2025-05-31,500,2025-07,NOPE\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="unknown product code"):
        call_command("campaigns", "load", str(path))
    assert Campaign.objects.count() == 0


# --- the point summary ------------------------------------------------------------------------


def test_point_summary_adds_grants_recorded_after_the_imported_balance():
    campaign_load_defaults(actor="test")
    member = MemberFactory()
    DeliveryPreferenceFactory(member=member, method="web", recorded_at=jst(2024, 12, 1, 10, 0))
    PointBalanceFactory(member=member, as_of=dt.date(2025, 2, 28), balance=1_200)
    PointBalanceFactory(
        member=member,
        as_of=dt.date(2025, 3, 31),
        balance=2_500,
        expiring_points=300,
        expires_on=dt.date(2025, 6, 30),
    )
    close("2025-04", at=jst(2025, 4, 11, 12, 0))

    summary = point_summary(member=member)

    assert summary.balance == 3_500
    assert summary.as_of == dt.date(2025, 4, 11)
    assert (summary.expiring_points, summary.expires_on) == (300, dt.date(2025, 6, 30))
    assert summary.history == [
        PointHistoryEntry(
            on=dt.date(2025, 4, 11),
            kind="grant",
            points=1000,
            label="「WEB請求明細」早期ご登録キャンペーン",
            billing_month=BillingMonth(2025, 4),
        ),
        PointHistoryEntry(
            on=dt.date(2025, 3, 31), kind="balance", points=2_500, label="ポイント残高"
        ),
        PointHistoryEntry(
            on=dt.date(2025, 2, 28), kind="balance", points=1_200, label="ポイント残高"
        ),
    ]


def test_a_balance_reported_after_the_grant_already_includes_it():
    member = MemberFactory()
    campaign = campaign_load_defaults(actor="test")
    PointEntry.objects.create(
        member=member,
        kind="campaign",
        points=1000,
        billing_month="2025-04",
        campaign=campaign,
        description=campaign.name,
        recorded_at=jst(2025, 4, 11, 12, 0),
    )
    PointBalanceFactory(member=member, as_of=dt.date(2025, 4, 30), balance=3_500)

    summary = point_summary(member=member)

    assert (summary.balance, summary.as_of) == (3_500, dt.date(2025, 4, 30))
    assert [item.kind for item in summary.history] == ["balance", "grant"]


def test_a_member_without_points_data():
    summary = point_summary(member=MemberFactory())
    assert (summary.balance, summary.as_of, summary.expiring_points, summary.expires_on) == (
        0,
        None,
        0,
        None,
    )
    assert summary.history == []


# --- the back office --------------------------------------------------------------------------


def test_campaigns_are_editable_in_the_back_office(client):
    staff = AccountFactory(member=None, is_staff=True, is_superuser=True)
    client.force_login(staff)
    second_factor_passed(client, staff)
    campaign = campaign_load_defaults(actor="test")

    listing = client.get("/backoffice/admin/points/campaign/")
    change = client.get(f"/backoffice/admin/points/campaign/{campaign.pk}/change/")
    entries_add = client.get("/backoffice/admin/points/pointentry/add/")

    assert listing.status_code == 200 and "web-early-2024" in listing.content.decode()
    assert change.status_code == 200
    assert entries_add.status_code == 403


def _campaign_form(**changes: str) -> dict[str, str]:
    form = {
        "code": "spring-2025",
        "name": "春のWEB明細キャンペーン",
        "window_start_0": "2025-03-01",
        "window_start_1": "00:00:00",
        "window_end_0": "2025-05-31",
        "window_end_1": "23:59:59",
        "points": "500",
        "grant_month": "2025-07",
    }
    return {**form, **changes}


def test_a_campaign_saved_in_the_back_office_goes_through_the_service_and_is_audited(client):
    staff = AccountFactory(member=None, is_staff=True, is_superuser=True, login_id="admin-ito")
    client.force_login(staff)
    second_factor_passed(client, staff)

    added = client.post("/backoffice/admin/points/campaign/add/", _campaign_form())
    campaign = Campaign.objects.get(code="spring-2025")
    changed = client.post(
        f"/backoffice/admin/points/campaign/{campaign.pk}/change/", _campaign_form(points="600")
    )

    assert (added.status_code, changed.status_code) == (302, 302)
    campaign.refresh_from_db()
    assert (campaign.points, campaign.grant_month) == (600, BillingMonth(2025, 7))
    entries = list(AuditEntry.objects.order_by("id").values_list("actor", "action", "detail"))
    detail = {
        "code": "spring-2025",
        "name": "春のWEB明細キャンペーン",
        "window_start": "2025-03-01T00:00:00+09:00",
        "window_end": "2025-05-31T23:59:59+09:00",
        "points": 500,
        "grant_month": "2025-07",
        "excluded_products": [],
    }
    assert entries == [
        ("admin-ito", "campaign_create", detail),
        ("admin-ito", "campaign_change", {**detail, "points": 600}),
    ]


def test_a_campaign_whose_points_were_granted_cannot_change(client):
    staff = AccountFactory(member=None, is_staff=True, is_superuser=True)
    client.force_login(staff)
    second_factor_passed(client, staff)
    campaign = campaign_load_defaults(actor="test")
    member = MemberFactory()
    PointEntry.objects.create(
        member=member,
        kind=PointEntry.Kind.CAMPAIGN,
        points=1000,
        billing_month=BillingMonth(2025, 4),
        campaign=campaign,
        description=campaign.name,
        recorded_at=jst(2025, 4, 11, 12, 0),
    )
    audits = AuditEntry.objects.count()

    page = client.post(
        f"/backoffice/admin/points/campaign/{campaign.pk}/change/",
        _campaign_form(code="web-early-2024", points="2000", grant_month="2025-04"),
    )

    assert page.status_code == 200
    assert "web-early-2024: its points were already granted to 1 member(s)" in page.content.decode()
    campaign.refresh_from_db()
    assert campaign.points == 1000
    assert AuditEntry.objects.count() == audits
    with pytest.raises(CampaignRefused) as refused:
        campaign_upsert(
            code="web-early-2024",
            name=campaign.name,
            window_start=campaign.window_start,
            window_end=campaign.window_end,
            points=2000,
            grant_month=BillingMonth(2025, 4),
            actor="test",
        )
    assert str(refused.value) == "web-early-2024: its points were already granted to 1 member(s)"
