"""Every member page and every public page, in real chromium at 390 px and at 1280 px, checked by
two independent tools: axe-core in the page (0 violations of any impact) and the Nu Html Checker
on the served HTML (0 errors). Each form is also shown with its errors, submitted empty or wrong.
And the phone layout holds: a 120-character merchant name without a break wraps inside the
screen, no element of the statement page reaches past its right edge."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction

from meisai import billing_calendar
from meisai.clock import JST
from meisai.magazines.services import magazines_switch
from tests.e2e.checkers import axe_violations, html_errors
from tests.factories import (
    AccountFactory,
    CardFactory,
    MagazineIssueFactory,
    MemberFactory,
    PhoneFactory,
    PointBalanceFactory,
    StatementFactory,
    statement_usage_line,
)

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
#: One unbroken "word" of 120 characters, as the core system may send a merchant name.
LONG_MERCHANT = "ＡＭＡＺＯＮ．ＣＯ．ＪＰ" + "X" * 108
REGISTER_CARD = "4980555566667777"
RESET_CARD = "4980444455556666"
NEW_EMAIL = "ayako.new@example.jp"


class Checks:
    """Runs axe-core on the page as it stands and keeps its served HTML for the Nu checker.

    The HTML is the body of the page's last document response, as the server sent it, not
    ``page.content()``: the browser's parser repairs what the checker should see (a stray end
    tag, a duplicate attribute), and axe-core's injected script would be part of it."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.violations: list[str] = []
        self.documents: dict[str, str] = {}
        self._served: Any = None
        page.on("response", self._remember)

    def _remember(self, response: Any) -> None:
        if response.request.resource_type == "document" and response.request.frame == (
            self.page.main_frame
        ):
            self._served = response

    def check(self, name: str) -> None:
        self.page.wait_for_load_state()
        assert self._served is not None and self._served.url == self.page.url, name
        self.documents[name] = self._served.text()
        self.violations += [f"{name}: {v}" for v in axe_violations(self.page)]

    def assert_clean(self) -> None:
        errors = html_errors(self.documents)
        assert (self.violations, errors) == ([], []), "\n".join(
            ["axe-core:", *self.violations, "Nu Html Checker:", *errors]
        )


@transaction.atomic  # the live server sees the statements and their lines together
def _member_with_statements():
    account = AccountFactory(
        login_id="ayako.a11y", email="ayako.a11y@example.jp", personal_message="石割桜"
    )
    member = account.member
    first = CardFactory(member=member, number="4980000000001234")
    second = CardFactory(member=member, number="4980000000005678")
    PointBalanceFactory(
        member=member, balance=3200, expiring_points=200, expires_on=dt.date(2026, 3, 31)
    )
    latest = billing_calendar.latest_billing_month()
    months = billing_calendar.visible_months(latest)[:4]
    for month in months:
        older = month != latest
        statement = StatementFactory(
            member=member,
            billing_month=str(month),
            delivery="paper" if older else "web",
            usage_total=4000 if older else 143_880,
            fee_total=165 if older else 165,
            line_count=2 if older else 8,
            points_granted=0 if older else 1000,
            debit_date=billing_calendar.debit_date(month),
            confirmed_at=dt.datetime.combine(month.day(10), dt.time(3), tzinfo=JST),
            published_at=dt.datetime.combine(month.day(13), dt.time(9), tzinfo=JST),
        )
        if older:
            statement_usage_line(statement, line_no=1, card=first, use_amount=4000)
            continue
        lines = [
            dict(card=first, merchant=LONG_MERCHANT, use_amount=12_000),
            dict(card=first, merchant="盛岡百貨店", use_amount=3_480, note="ポイント2倍"),
            dict(
                card=first,
                merchant="家電のイワテ",
                payment_type="分割",
                installment="3/10",
                use_amount=100_000,
                billed_amount=10_000,
            ),
            dict(card=first, merchant="=髙橋商店㈱", user_kind="家族", use_amount=345),
            dict(
                card=first,
                merchant="盛岡市内タクシー" + "Y" * 60,
                user_kind="家族",
                payment_type="ボーナス",
                use_amount=8_000,
            ),
            dict(card=second, merchant="北上書店", use_amount=1_200),
            dict(
                card=second,
                merchant="花巻温泉",
                payment_type="分割",
                installment="1/6",
                use_amount=60_000,
                billed_amount=10_000,
            ),
            dict(card=second, merchant="返品 盛岡百貨店", use_amount=-1_200),
        ]
        for number, fields in enumerate(lines, start=1):
            statement_usage_line(statement, line_no=number, **fields)
    return account, latest


def _log_in(page: Any, site: Any, smtp_sink: Any, checks: Checks | None, account: Any) -> None:
    """Log in (password, then the emailed code); with ``checks``, each login page is checked
    first as it opens and then with its errors (empty, then a wrong code)."""
    page.goto(f"{site.url}/login/")
    if checks:
        checks.check("login")
        page.get_by_role("button", name="ログイン").click()
        page.locator(".errorlist, .error").first.wait_for()
        checks.check("login, empty")
    page.get_by_label("ログインID").fill(account.login_id)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("heading", name="確認コードの入力").wait_for()
    code = smtp_sink.wait_for(account.email).code
    if checks:
        checks.check("login code")
        page.get_by_label("確認コード(6桁)").fill("000000" if code != "000000" else "111111")
        page.get_by_role("button", name="確認").click()
        page.locator(".errorlist, .error").first.wait_for()
        checks.check("login code, wrong")
    page.get_by_label("確認コード(6桁)").fill(code)
    page.get_by_role("button", name="確認").click()
    page.wait_for_url(f"{site.url}/")


def test_every_member_page_passes_axe_and_the_nu_checker(site, smtp_sink, checked_page):
    page = checked_page
    checks = Checks(page)
    account, latest = _member_with_statements()
    _log_in(page, site, smtp_sink, checks, account)

    checks.check("top")
    page.goto(f"{site.url}/statements/")
    checks.check("statements")
    page.goto(f"{site.url}/statements/{latest}/")
    page.get_by_role("heading", name=f"{latest.label}のご請求明細").wait_for()
    checks.check("statement")
    page.goto(f"{site.url}/points/")
    checks.check("points")
    page.goto(f"{site.url}/magazines/")
    checks.check("magazines, off")
    with transaction.atomic():
        MagazineIssueFactory()
        magazines_switch(enabled=True, actor="test")
    page.reload()
    checks.check("magazines, on")

    page.goto(f"{site.url}/account/")
    checks.check("account")
    for path, name, button in [
        ("email", "email change", "変更する"),
        ("password", "password change", "変更する"),
        ("message", "message change", "変更する"),
    ]:
        page.goto(f"{site.url}/account/{path}/")
        checks.check(name)
        page.get_by_role("button", name=button).click()
        page.locator(".errorlist, .error").first.wait_for()
        checks.check(f"{name}, empty")

    page.goto(f"{site.url}/account/paper/")
    checks.check("paper")
    # The method in force is offered disabled; posting it anyway shows the page's error.
    page.locator("input[name=method]:disabled").evaluate(
        "input => { input.disabled = false; input.checked = true; }"
    )
    page.get_by_role("button", name="変更").click()
    page.locator(".error").first.wait_for()
    checks.check("paper, error")
    page.get_by_label("紙明細を停止する").check()
    page.get_by_role("button", name="変更").click()
    page.get_by_role("heading", name="変更内容の確認").wait_for()
    checks.check("paper confirm")
    page.get_by_role("button", name="確定").click()
    page.get_by_role("status").wait_for()
    checks.check("paper changed")

    # The email change for real: the link of the email opens its confirmation page.
    page.goto(f"{site.url}/account/email/")
    page.get_by_label("新しいメールアドレス", exact=True).fill(NEW_EMAIL)
    page.get_by_label("新しいメールアドレス(確認のため再入力)").fill(NEW_EMAIL)
    page.get_by_label("現在のパスワード").fill(PASSWORD)
    page.get_by_role("button", name="変更する").click()
    page.goto(smtp_sink.wait_for(NEW_EMAIL).url_containing("/account/email/confirm/"))
    checks.check("email change confirm")
    page.get_by_role("button", name="変更を確定する").click()
    page.get_by_role("heading", name="メールアドレスを変更しました").wait_for()
    checks.check("email changed")

    page.goto(f"{site.url}/statements/2000-01/")
    checks.check("404")
    page.goto(f"{site.url}/")
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_load_state()
    checks.check("logged out")

    checks.assert_clean()


def test_every_public_page_passes_axe_and_the_nu_checker(site, smtp_sink, checked_page):
    page = checked_page
    checks = Checks(page)
    member = MemberFactory(birth_date=dt.date(1949, 3, 30))
    CardFactory(member=member, number=REGISTER_CARD, expiry="2028-06")
    PhoneFactory(member=member, number="09012345678")
    known = AccountFactory(
        login_id="known.member",
        email="known.member@example.jp",
        member__birth_date=dt.date(1955, 5, 5),
    )
    CardFactory(member=known.member, number=RESET_CARD)

    for path, name, button in [
        ("/login/forgot-id/", "forgot id", "送信"),
        ("/login/forgot-password/", "forgot password", "送信"),
    ]:
        page.goto(f"{site.url}{path}")
        checks.check(name)
        page.get_by_role("button", name=button).click()
        page.locator(".errorlist, .error").first.wait_for()
        checks.check(f"{name}, empty")
    page.get_by_label("カード番号").fill(RESET_CARD)
    page.get_by_label("生年月日").fill("1955-05-05")
    page.get_by_role("button", name="送信").click()
    page.get_by_role("heading", name="受付しました").wait_for()
    checks.check("recovery sent")
    page.goto(smtp_sink.wait_for(known.email).url_containing("/login/reset/"))
    checks.check("password reset")
    page.get_by_role("button", name="再設定する").click()
    page.locator(".errorlist, .error").first.wait_for()
    checks.check("password reset, empty")

    # Registration: terms, email, identity (each empty first), confirm, sent.
    page.goto(f"{site.url}/register/")
    checks.check("register terms")
    page.get_by_role("button", name="同意する").click()
    page.locator(".errorlist, .error").first.wait_for()
    checks.check("register terms, not agreed")
    page.get_by_label("契約書の内容を確認しました").check()
    page.get_by_role("button", name="同意する").click()
    page.get_by_role("button", name="確定").wait_for()
    checks.check("register email")
    page.get_by_role("button", name="確定").click()
    page.locator(".errorlist, .error").first.wait_for()
    checks.check("register email, empty")
    email = "sakura.a11y@example.jp"
    page.get_by_label("メールアドレス", exact=True).fill(email)
    page.get_by_label("メールアドレス(確認のため再入力)").fill(email)
    page.get_by_role("button", name="確定").click()
    page.get_by_role("heading", name="メール送信完了").wait_for()
    checks.check("register email sent")

    page.goto(smtp_sink.wait_for(email).url_containing("/register/identity/"))
    checks.check("register identity")
    page.get_by_role("button", name="認証").click()
    page.locator(".errorlist, .error").first.wait_for()
    checks.check("register identity, empty")
    page.get_by_label("カード番号", exact=True).fill(REGISTER_CARD)
    page.get_by_label("カード有効期限(月/年)").fill("06/28")
    page.get_by_label("生年月日(西暦)").fill("1949-03-30")
    page.get_by_label("ご登録の電話番号(ハイフン無し)").fill("09012345678")
    page.get_by_label("ログインID").fill("sakura.a11y")
    page.get_by_label("パスワード", exact=True).fill("kitakami-tenshochi-9")
    page.get_by_label("パスワード(確認のため再入力)").fill("kitakami-tenshochi-9")
    page.get_by_label("パーソナルメッセージ(1～20文字)").fill("石割桜が咲いた")
    page.get_by_role("button", name="認証").click()
    page.get_by_role("heading", name="入力内容の確認").wait_for()
    checks.check("register confirm")
    page.get_by_role("button", name="確定").click()
    page.get_by_role("heading", name="メール送信完了").wait_for()
    checks.check("register completion sent")
    page.goto(smtp_sink.wait_for(email).url_containing("/register/complete/"))
    checks.check("register complete")

    checks.assert_clean()


_OVERFLOWING = """() => {
  const width = window.innerWidth;
  const past = [];
  for (const element of document.querySelectorAll("body *")) {
    const box = element.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) {
      past.push(`${element.tagName.toLowerCase()}.${element.className} right=${box.right}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width, past};
}"""


_CHART_LABEL_SIZES = """() => {
  const svg = document.querySelector("svg.chart");
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [...svg.querySelectorAll("text")]
    .filter((text) => getComputedStyle(text).display !== "none")
    .map((text) => Number(text.getAttribute("font-size")) * scale);
}"""


def test_the_statement_page_fits_a_phone_with_a_long_merchant_name(site, smtp_sink, browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    try:
        page = context.new_page()
        account, latest = _member_with_statements()
        _log_in(page, site, smtp_sink, None, account)
        page.goto(f"{site.url}/statements/{latest}/")
        page.get_by_text(LONG_MERCHANT).wait_for()

        measured = page.evaluate(_OVERFLOWING)
        assert measured["scrollWidth"] <= measured["innerWidth"], measured
        assert measured["past"] == [], measured

        # A line is one compact block: no empty 支払区分 or 回数 rows for a 1回払い line.
        text = page.locator("tbody tr", has_text="北上書店").inner_text()
        assert "1回払い" not in text and "支払区分" not in text
        # 小計 once per card group, not once as a header and again as a label.
        for footer in page.locator("table.lines tfoot").all():
            assert footer.inner_text().count("小計") == 1
        # No table repeats its heading as a caption.
        assert page.locator("caption").count() == 0

        # The chart of the statements page: every label shown reads at 11 px or more at 390 px.
        page.goto(f"{site.url}/statements/")
        sizes = page.evaluate(_CHART_LABEL_SIZES)
        assert sizes and min(sizes) >= 11, sizes
        measured = page.evaluate(_OVERFLOWING)
        assert measured["past"] == [], measured
    finally:
        context.close()
