"""The staff console in a real browser at 1280 px: an operator signs in with the password and a
TOTP code, finds a member by phone number, sees the login lock and lifts it with a reason; and
axe-core finds no violation on any console page on the way."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from meisai.accounts.login_ids import login_id_key
from meisai.audit.models import AuditEntry
from meisai.backoffice.roles import Role
from meisai.members.models import Phone
from tests.backoffice.conftest import STAFF_PASSWORD, staff_account
from tests.e2e.checkers import axe_violations
from tests.factories import AccountFactory, PhoneFactory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
REASON = "ご本人から電話(生年月日と住所で本人確認済み)"


def _code_now(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def _locked_member():
    account = AccountFactory(login_id="morioka.lock", email="lock@example.jp")
    PhoneFactory(member=account.member, kind=Phone.Kind.MOBILE, number="09011112222")
    AccessAttempt.objects.create(
        username=login_id_key(account.login_id),
        ip_address="203.0.113.9",
        user_agent="test",
        get_data="",
        post_data="",
        http_accept="*/*",
        path_info="/login/",
        failures_since_start=10,
    )
    return account


def test_an_operator_signs_in_finds_a_member_by_phone_and_lifts_the_lock(site, browser):
    operator = staff_account(Role.OPERATOR, login_id="op-sato")
    account = _locked_member()
    context = browser.new_context(
        viewport=DESKTOP, locale="ja-JP", timezone_id="Asia/Tokyo", bypass_csp=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations: dict[str, list[str]] = {}

    def check(where: str) -> None:
        if found := axe_violations(page):
            violations[where] = found

    try:
        page.goto(f"{site.url}/backoffice/")
        page.wait_for_url(f"{site.url}/backoffice/login/?next=/backoffice/")
        check("staff login")
        page.get_by_label("ログインID").fill("op-sato")
        page.get_by_label("パスワード").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="次へ").click()
        page.wait_for_url(f"{site.url}/backoffice/login/code/")
        check("code")
        page.get_by_label("認証コード(6桁)").fill(_code_now(TOTPDevice.objects.get(user=operator)))
        page.get_by_role("button", name="ログイン").click()
        page.wait_for_url(f"{site.url}/backoffice/")
        check("dashboard")

        page.get_by_role("link", name="会員検索").click()
        page.get_by_role("searchbox").fill("090-1111-2222")
        page.get_by_role("button", name="検索").click()
        check("search results")
        page.get_by_role("link", name=account.member.member_no).click()
        assert "ロック中" in page.locator("#login-lock").inner_text()
        check("member page")

        form = page.locator("#action-login_unlock")
        form.get_by_label("理由").fill(REASON)
        form.get_by_role("button").click()
        page.wait_for_load_state()
        assert "ロックなし" in page.locator("#login-lock").inner_text()
        check("member page after the unlock")

        page.get_by_role("link", name="月次処理").click()
        check("month")
    finally:
        context.close()

    assert not AccessAttempt.objects.exists()
    unlock = AuditEntry.objects.get(action="account_login_unlock")
    assert (unlock.actor, unlock.member, unlock.detail["reason"]) == (
        "op-sato",
        account.member,
        REASON,
    )
    assert AuditEntry.objects.filter(action="staff_login", actor="op-sato").exists()
    assert violations == {}
