"""The flyer's registration in a real browser, at phone width and at desktop width: from the
login page's 「新規会員登録」 through the terms, both emails (read from the local SMTP server), the
completion link's page and its 「登録を完了する」 button, then a login from this new browser with
the emailed code, and logout."""

from __future__ import annotations

import datetime as dt

import pytest

from meisai.accounts.models import Account, Enrollment
from meisai.members.models import DeliveryPreference, Phone
from tests.factories import CardFactory, MemberFactory, PhoneFactory

pytestmark = pytest.mark.browser

CARD_NUMBER = "4980555566667777"
EMAIL = "sakura.browser@example.jp"
PASSWORD = "kitakami-tenshochi-9"


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_registration_login_and_logout(site, smtp_sink, page):
    member = MemberFactory(birth_date=dt.date(1949, 3, 30))
    CardFactory(member=member, number=CARD_NUMBER, expiry="2028-06")
    PhoneFactory(member=member, kind=Phone.Kind.HOME, number="0196512345")

    # Flyer step 2: the login page → 「新規会員登録」.
    page.goto(f"{site.url}/login/")
    page.get_by_role("link", name="新規会員登録").click()

    # Step 3: terms.
    page.get_by_label("契約書の内容を確認しました").check()
    assert _fits_the_screen(page)
    page.get_by_role("button", name="同意する").click()

    # Step 4: email twice → 「確定」 → mail sent.
    page.get_by_label("メールアドレス", exact=True).fill(EMAIL)
    page.get_by_label("メールアドレス(確認のため再入力)").fill(EMAIL)
    page.get_by_role("button", name="確定").click()
    page.get_by_role("heading", name="メール送信完了").wait_for()
    first = smtp_sink.wait_for(EMAIL)
    assert first.subject == "【日専連パートナーズ】WEBサービス 登録手続きURLのお知らせ"
    assert first.html and "登録手続きURL" in first.html

    # Step 5: follow the 登録手続きURL; the phone on file is the home phone.
    page.goto(first.url_containing("/register/identity/"))
    assert _fits_the_screen(page)
    page.get_by_label("カード番号", exact=True).fill("4980 5555 6666 7777")
    page.get_by_label("カード有効期限(月/年)").fill("06/28")
    page.get_by_label("生年月日(西暦)").fill("1949-03-30")
    page.get_by_label("ご登録の電話番号(ハイフン無し)").fill("09099998888")
    page.get_by_label("ログインID").fill("sakura.browser")
    page.get_by_label("パスワード", exact=True).fill(PASSWORD)
    page.get_by_label("パスワード(確認のため再入力)").fill(PASSWORD)
    page.get_by_label("パーソナルメッセージ(1～20文字)").fill("石割桜が咲いた")
    page.get_by_role("button", name="認証").click()
    page.get_by_text(
        "ご登録の電話番号が「ご自宅の電話番号」の場合があります。ハイフン無し"
    ).wait_for()
    # The member tries again with the home phone (and types the password again).
    page.get_by_label("ご登録の電話番号(ハイフン無し)").fill("019-651-2345")
    page.get_by_label("パスワード", exact=True).fill(PASSWORD)
    page.get_by_label("パスワード(確認のため再入力)").fill(PASSWORD)
    page.get_by_role("button", name="認証").click()

    # Step 6: confirm → 「確定」 → mail sent → the 完了手続きURL → completion page.
    page.get_by_role("heading", name="入力内容の確認").wait_for()
    assert "****-****-****-7777" in page.content()
    assert _fits_the_screen(page)
    page.get_by_role("button", name="確定").click()
    page.get_by_role("heading", name="メール送信完了").wait_for()
    second = smtp_sink.wait_for(EMAIL)
    assert second.subject == "【日専連パートナーズ】WEBサービス 完了手続きURLのお知らせ"
    # The 完了手続きURL opens a page with a button: opening it (as a mail scanner would)
    # creates nothing; 「登録を完了する」 does.
    page.goto(second.url_containing("/register/complete/"))
    page.get_by_role("heading", name="登録の完了").wait_for()
    assert _fits_the_screen(page)
    assert not Account.objects.filter(login_id="sakura.browser").exists()
    page.get_by_role("button", name="登録を完了する").click()
    page.get_by_role("heading", name="登録完了").wait_for()
    completed = smtp_sink.wait_for(EMAIL)
    assert completed.subject == "【日専連パートナーズ】WEBサービス 登録完了のお知らせ"

    account = Account.objects.get(login_id="sakura.browser")
    assert account.member_id == member.pk
    assert Enrollment.objects.get(member=member).login_id == "sakura.browser"
    assert DeliveryPreference.objects.get(member=member).method == "web"
    for received in (first, second, completed):
        for body in (received.text, received.html):
            assert CARD_NUMBER not in body and "7777" not in body and PASSWORD not in body

    # Login from this browser, new to the account: password, then the emailed code.
    page.get_by_role("link", name="ログインする").click()
    page.get_by_label("ログインID").fill("sakura.browser")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("heading", name="確認コードの入力").wait_for()
    assert "石割桜が咲いた" in page.content()
    code_mail = smtp_sink.wait_for(EMAIL)
    assert code_mail.subject == "【日専連パートナーズ】WEBサービス ログイン確認コード"
    page.get_by_label("確認コード(6桁)").fill(code_mail.code)
    page.get_by_role("button", name="確認").click()
    page.wait_for_url(f"{site.url}/")

    # お客様情報, then logout.
    page.goto(f"{site.url}/account/")
    page.get_by_role("heading", name="お客様情報").wait_for()
    assert "sakura.browser" in page.content()
    assert _fits_the_screen(page)
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url(f"{site.url}/login/")
    page.get_by_text("ログアウトしました。").wait_for()
    page.goto(f"{site.url}/account/")
    page.wait_for_url(f"{site.url}/login/?next=/account/")
