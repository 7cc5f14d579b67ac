"""/points/: balance, points expiring and when, the history of balances and campaign grants."""

from __future__ import annotations

import datetime as dt

import pytest

from meisai.clock import JST
from meisai.points.models import PointEntry
from tests.factories import PointBalanceFactory

pytestmark = pytest.mark.django_db


def test_points_page_shows_balance_expiry_and_history(client, account):
    PointBalanceFactory(member=account.member, as_of=dt.date(2025, 2, 28), balance=1800)
    PointBalanceFactory(
        member=account.member,
        as_of=dt.date(2025, 3, 31),
        balance=2500,
        expiring_points=300,
        expires_on=dt.date(2025, 6, 30),
    )
    PointEntry.objects.create(
        member=account.member,
        kind=PointEntry.Kind.CAMPAIGN,
        points=1000,
        billing_month="2025-04",
        description="WEB明細早期登録キャンペーン",
        recorded_at=dt.datetime(2025, 4, 10, 3, 0, tzinfo=JST),
    )
    client.force_login(account)

    page = client.get("/points/").content.decode()

    assert '<p class="big">3,500ポイント</p>' in page
    assert "2025年6月30日(月)に300ポイントが失効します。" in page
    history = page.split('id="history-heading"')[1]
    assert (
        history.index("2025年4月10日(木)")
        < history.index("2025年3月31日(月)")
        < (history.index("2025年2月28日(金)"))
    )
    assert "ポイント付与:WEB明細早期登録キャンペーン(2025年4月請求分)" in page
    assert "+1,000ポイント" in page
    assert "2025年4月10日(木)時点" in page
    assert "2,500ポイント" in page and "1,800ポイント" in page


def test_points_page_without_points(client, account):
    client.force_login(account)

    page = client.get("/points/").content.decode()

    assert '<p class="big">0ポイント</p>' in page
    assert "失効予定のポイントはありません。" in page
    assert "ポイントの履歴はまだありません。" in page
