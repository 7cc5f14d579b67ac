"""The pages of issue 15 in real chromium, checked by axe-core and the Nu Html Checker like every
member page: the campaign offered (top page of a paper member, paper preference, registration),
the top page of a member whose card is cancelled, and a personal message typed past 20
characters, which reaches the server whole and gets its error."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from meisai import billing_calendar
from meisai.clock import now
from meisai.points.models import Campaign
from tests.e2e.test_member_pages_accessible import PASSWORD, Checks, _log_in
from tests.factories import AccountFactory, CardFactory

pytestmark = pytest.mark.browser

TWENTY_ONE = "岩手山が見える北上川の桜並木と遠野のかっぱ"


@transaction.atomic
def _situation() -> tuple[object, object]:
    moment = now()
    Campaign.objects.create(
        code="web-early-test",
        name="「WEB請求明細」早期ご登録キャンペーン",
        window_start=moment - dt.timedelta(days=1),
        window_end=moment + dt.timedelta(days=30),
        points=1000,
        grant_month=billing_calendar.latest_billing_month().next().next().next(),
    )
    paper = AccountFactory(login_id="paper.member", email="paper.member@example.jp")
    CardFactory(member=paper.member, number="4980000000002222")
    cancelled = AccountFactory(
        login_id="cancelled.member",
        email="cancelled.member@example.jp",
        member__status="cancelled",
        member__cancelled_on=dt.date(2025, 3, 31),
    )
    CardFactory(member=cancelled.member, number="4980000000003333", is_active=False)
    return paper, cancelled


def test_the_situation_pages_pass_axe_and_the_nu_checker(site, smtp_sink, checked_page):
    page = checked_page
    checks = Checks(page)
    paper, cancelled = _situation()

    page.goto(f"{site.url}/register/")
    page.get_by_role("heading", name="「WEB請求明細」早期ご登録キャンペーン").wait_for()
    checks.check("register, campaign")

    _log_in(page, site, smtp_sink, None, paper)
    page.get_by_role("heading", name="「WEB請求明細」早期ご登録キャンペーン").wait_for()
    checks.check("top, campaign")
    page.goto(f"{site.url}/account/paper/")
    checks.check("paper, campaign")
    page.get_by_label("紙明細を停止する").check()
    page.get_by_role("button", name="変更").click()
    page.get_by_role("button", name="確定").click()
    page.get_by_role("status").wait_for()
    page.goto(f"{site.url}/")
    page.get_by_role("heading", name="お届け方法").wait_for()
    checks.check("top, web from a month, campaign promised")

    page.goto(f"{site.url}/account/message/")
    field = page.get_by_label("パーソナルメッセージ(1～20文字)")
    field.fill("")
    field.click()
    page.keyboard.type(TWENTY_ONE)
    assert field.input_value() == TWENTY_ONE  # not cut by the browser
    page.get_by_label("現在のパスワード").fill(PASSWORD)
    page.get_by_role("button", name="変更する").click()
    page.locator(".errorlist").first.wait_for()
    assert "20 文字以下" in page.locator(".errorlist").first.inner_text()
    checks.check("message, 21 characters")

    page.goto(f"{site.url}/")
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_load_state()
    _log_in(page, site, smtp_sink, None, cancelled)
    page.get_by_role("heading", name="カードは解約されています").wait_for()
    checks.check("top, cancelled")

    checks.assert_clean()
