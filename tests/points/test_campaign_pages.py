"""The campaign where the member meets it (issue 15, SPEC 3.7): offered with the flyer's
conditions in its window on the top page of a paper member, the registration pages and the
paper-preference page; promised to a member who qualifies; in the points history once granted."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from meisai.clock import JST
from meisai.points.models import PointEntry
from meisai.points.services import campaign_load_defaults
from tests.factories import AccountFactory, DeliveryPreferenceFactory, ProductFactory

pytestmark = pytest.mark.django_db

IN_WINDOW = dt.datetime(2025, 1, 20, 12, 0, tzinfo=JST)
LAST_SECOND = dt.datetime(2025, 2, 28, 23, 59, 59, tzinfo=JST)
AFTER_WINDOW = dt.datetime(2025, 3, 1, 0, 0, tzinfo=JST)

#: The flyer's wording of the campaign, as every page that offers it prints it.
CONDITIONS = [
    '<h2 id="campaign-web-early-2024-heading">「WEB請求明細」早期ご登録キャンペーン</h2>',
    "期間:2024年11月13日(水)～2025年2月28日(金)",
    "もれなく日専連カードセールポイント1,000ポイントをプレゼントいたします。",
    "ポイントは2025年4月請求分にて付与いたします(予定)。",
    "ポイント付与までにカードを退会された場合はキャンペーンの対象外となります。",
    "アークスRARAポイントとは異なりますのでご注意ください。",
    "IRISカードは対象外となります。",
]


@pytest.fixture
def campaign(db):
    ProductFactory(code="IRIS", name="IRISカード", program_excluded=True)
    return campaign_load_defaults(actor="test")


def offered(page: str) -> bool:
    shown = [text in page for text in CONDITIONS]
    assert all(shown) or not any(shown), list(zip(CONDITIONS, shown, strict=True))
    return all(shown)


@pytest.mark.parametrize("moment", [IN_WINDOW, LAST_SECOND])
def test_a_paper_member_is_offered_the_campaign_on_top_and_paper_pages(
    member_client, campaign, moment
):
    with time_machine.travel(moment, tick=False):
        assert offered(member_client.get("/").content.decode())
        assert offered(member_client.get("/account/paper/").content.decode())


@time_machine.travel(AFTER_WINDOW, tick=False)
def test_after_the_window_nothing_is_offered(member_client, campaign):
    assert not offered(member_client.get("/").content.decode())
    assert not offered(member_client.get("/account/paper/").content.decode())
    assert not offered(member_client.get("/register/").content.decode())


@time_machine.travel(IN_WINDOW, tick=False)
def test_registration_pages_offer_the_campaign(client, campaign):
    assert offered(client.get("/register/").content.decode())


@time_machine.travel(IN_WINDOW, tick=False)
def test_a_member_on_the_web_since_before_the_window_is_not_offered_it(client, campaign):
    """Web before the window: nothing to win by stopping paper, so the top page offers nothing."""
    account = AccountFactory()
    DeliveryPreferenceFactory(
        member=account.member, recorded_at=dt.datetime(2024, 11, 1, tzinfo=JST)
    )
    client.force_login(account)

    page = client.get("/").content.decode()

    assert not offered(page)
    assert "の対象です" not in page


@time_machine.travel(IN_WINDOW, tick=False)
def test_a_member_who_cannot_stop_paper_is_not_offered_it(client, campaign):
    account = AccountFactory(member__paper_required=True)
    client.force_login(account)

    assert not offered(client.get("/").content.decode())
    assert not offered(client.get("/account/paper/").content.decode())


def test_stopping_paper_in_the_window_promises_the_points_then_the_history_shows_them(
    member_client, account, campaign
):
    """Stopped paper on 2025-01-20 → told the 1,000 points come with 2025年4月請求分; after the
    April close the grant is in the points history and the promise is gone."""
    with time_machine.travel(IN_WINDOW, tick=False):
        member_client.post("/account/paper/", {"step": "commit", "method": "web"})
        top = member_client.get("/").content.decode()
        assert "「WEB請求明細」早期ご登録キャンペーンの対象です" in top
        assert "1,000ポイントは2025年4月請求分にて付与いたします(予定)。" in top
        assert 'id="campaign-web-early-2024-heading"' not in top  # promised, no longer offered

    # The close of 2025-04 grants the points (statements.close writes this row).
    PointEntry.objects.create(
        member=account.member,
        kind=PointEntry.Kind.CAMPAIGN,
        points=1000,
        billing_month="2025-04",
        campaign=campaign,
        description=campaign.name,
        recorded_at=dt.datetime(2025, 4, 14, 3, 0, tzinfo=JST),
    )
    with time_machine.travel(dt.datetime(2025, 4, 20, 12, 0, tzinfo=JST), tick=False):
        member_client.force_login(account)  # months later: a new session
        top = member_client.get("/").content.decode()
        history = member_client.get("/points/").content.decode()

    assert "の対象です" not in top
    assert "ポイント付与:「WEB請求明細」早期ご登録キャンペーン(2025年4月請求分)" in history
    assert "+1,000ポイント" in history


def test_a_member_cancelled_meanwhile_is_promised_nothing(member_client, account, campaign):
    """The flyer: cancelled before the grant → not in the campaign; the page stops promising."""
    with time_machine.travel(IN_WINDOW, tick=False):
        member_client.post("/account/paper/", {"step": "commit", "method": "web"})
    member = account.member
    member.status, member.cancelled_on = "cancelled", dt.date(2025, 3, 15)
    member.save()

    with time_machine.travel(dt.datetime(2025, 3, 20, 12, 0, tzinfo=JST), tick=False):
        member_client.force_login(account)  # weeks later: a new session
        top = member_client.get("/").content.decode()

    assert "カードは解約されています" in top
    assert "の対象です" not in top and "付与いたします" not in top
