"""お客様情報 → 紙明細停止選択: choose → 変更 → confirmation → 確定, under the 9th cutoff."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from meisai.clock import JST
from meisai.members.models import DeliveryPreference
from tests.factories import DeliveryPreferenceFactory

pytestmark = pytest.mark.django_db


def history(member):
    return list(
        DeliveryPreference.objects.filter(member=member)
        .order_by("recorded_at", "id")
        .values_list("method", "source", "recorded_at")
    )


@time_machine.travel(dt.datetime(2025, 4, 9, 23, 59, tzinfo=JST), tick=False)
def test_stop_paper_by_the_9th_takes_effect_that_month(member_client, account):
    """Stopped on 2025-04-09 23:59 → April's statement is web."""
    page = member_client.get("/account/paper/").content.decode()
    assert "<h1>紙明細停止選択</h1>" in page
    assert "紙明細" in page and "紙明細を停止する" in page
    assert "<strong>2025年4月請求分</strong>から反映されます" in page

    confirm = member_client.post("/account/paper/", {"step": "confirm", "method": "web"})
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert "変更内容の確認" in text and "ご希望:<strong>紙明細を停止する</strong>" in text
    assert "<strong>2025年4月請求分</strong>からWEB明細になり" in text
    assert 'name="step" value="commit"' in text
    assert history(account.member) == []

    done = member_client.post("/account/paper/", {"step": "commit", "method": "web"}, follow=True)
    assert done.redirect_chain == [("/account/paper/", 302)]
    page = done.content.decode()
    assert "紙明細の停止を承りました。2025年4月請求分からWEB明細になります。" in page
    assert '<p class="big">WEB明細</p>' in page
    assert history(account.member) == [
        ("web", "member", dt.datetime(2025, 4, 9, 23, 59, tzinfo=JST))
    ]


@time_machine.travel(dt.datetime(2025, 4, 10, 0, 0, tzinfo=JST), tick=False)
def test_stop_paper_on_the_10th_takes_effect_next_month(member_client, account):
    """Stopped on 2025-04-10 00:00 → May is the first web statement."""
    confirm = member_client.post("/account/paper/", {"step": "confirm", "method": "web"})
    assert "<strong>2025年5月請求分</strong>からWEB明細になり" in confirm.content.decode()

    done = member_client.post("/account/paper/", {"step": "commit", "method": "web"}, follow=True)
    assert "2025年5月請求分からWEB明細になります" in done.content.decode()


@time_machine.travel(dt.datetime(2025, 6, 1, 10, 0, tzinfo=JST), tick=False)
def test_back_to_paper_the_same_way(member_client, account):
    DeliveryPreferenceFactory(member=account.member, method="web")

    confirm = member_client.post("/account/paper/", {"step": "confirm", "method": "paper"})
    assert "ご希望:<strong>紙明細を希望する</strong>" in confirm.content.decode()
    done = member_client.post("/account/paper/", {"step": "commit", "method": "paper"}, follow=True)

    assert "紙明細のご希望を承りました。2025年6月請求分から紙の明細書をお届けします。" in (
        done.content.decode()
    )
    assert [method for method, _, _ in history(account.member)] == ["web", "paper"]


@time_machine.travel(dt.datetime(2025, 4, 5, 10, 0, tzinfo=JST), tick=False)
@pytest.mark.parametrize(
    ("flag", "reason"),
    [
        (
            "paper_required",
            "お客様のご契約では紙の明細書の送付が必要なため、紙明細を停止できません。",
        ),
        (
            "program_excluded",
            "お持ちのカードはWEB請求明細の対象外のため、紙の明細書をお送りします。",
        ),
    ],
)
def test_excepted_members_are_refused_with_the_reason(member_client, account, flag, reason):
    setattr(account.member, flag, True)
    account.member.save()

    page = member_client.get("/account/paper/").content.decode()
    assert reason in page
    assert 'value="web"' not in page

    for step in ("confirm", "commit"):
        response = member_client.post("/account/paper/", {"step": step, "method": "web"})
        assert response.status_code == 400
        assert reason in response.content.decode()
    assert history(account.member) == []


@time_machine.travel(dt.datetime(2025, 4, 5, 10, 0, tzinfo=JST), tick=False)
def test_no_choice_or_the_current_one_changes_nothing(member_client, account):
    assert member_client.post("/account/paper/", {"step": "commit"}).status_code == 400
    response = member_client.post("/account/paper/", {"step": "commit", "method": "paper"})
    assert response.status_code == 400
    assert "現在すでに紙の明細書をお届けする設定です。" in response.content.decode()
    assert history(account.member) == []


def test_the_change_needs_the_csrf_token(account):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(account)

    response = client.post("/account/paper/", {"step": "commit", "method": "web"})

    assert response.status_code == 403
    assert "もう一度お手続きください" in response.content.decode()
    assert history(account.member) == []


def test_paper_page_needs_login(client):
    assert client.get("/account/paper/")["Location"] == "/login/?next=/account/paper/"
