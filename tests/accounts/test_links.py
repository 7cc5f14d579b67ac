"""Emailed links behave like keys, not like doors left open (SPEC 3.4, 3.5).

* A password-reset link lives ``MEISAI_RESET_LINK_MINUTES`` (30 by default) and dies when it is
  used, when the account logs in, when its password changes and when its address changes.
* A link that changes state (registration completion, email-change confirmation) opens a page
  with a button: mail scanners fetch links, so a GET or HEAD changes nothing; the CSRF-protected
  POST does the change. The identity link of step 5 opens a form, so its GET changes nothing
  either.
* The personal-message change asks for the current password, like the other changes.
* A password reset forgets the account's remembered browsers.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.test import Client

from meisai.accounts.models import Account, AccountToken, Registration, RememberedBrowser
from meisai.audit.models import AuditEntry
from meisai.notifications.models import OutboxMessage
from tests.accounts.conftest import (
    CARD_NUMBER,
    FACTORY_PASSWORD,
    code_in,
    identity,
    link_in,
    log_in,
    outbox,
    start_registration,
)

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "hiraizumi-konjikido"


def _reset_link(client: Client) -> str:
    """Ask for a reset of Jiro's password; the path of the emailed link."""
    client.post("/login/forgot-password/", {"card_number": CARD_NUMBER, "birth_date": "1950-02-03"})
    return link_in(outbox("jiro@example.jp", "password_reset")[-1])


def _reset(client: Client, path: str, password: str = NEW_PASSWORD) -> int:
    response = client.post(path, {"password": password, "password_confirm": password})
    return response.status_code


def _email_change_link(member_client: Client, new_email: str = "jiro.new@example.jp") -> str:
    member_client.post(
        "/account/email/",
        {"email": new_email, "email_confirm": new_email, "current_password": FACTORY_PASSWORD},
    )
    return link_in(outbox(new_email, "email_change_confirm")[-1])


def _completion_link(client: Client) -> str:
    """Steps 3–6 of a registration; the path of the 完了手続きURL."""
    identity_path = start_registration(client)
    assert client.post(identity_path, identity()).url == "/register/confirm/"
    assert client.post("/register/confirm/").url == "/register/confirm/sent/"
    return link_in(outbox("hanako@example.jp", "registration_completion_link")[-1])


# --- the password-reset link -------------------------------------------------------------------


def test_reset_link_lives_30_minutes(client, account, frozen):
    path = _reset_link(client)
    mail = outbox("jiro@example.jp", "password_reset")[-1]
    assert "有効期限:2025年1月10日 10:30まで(1回のみ有効)" in mail.body_text
    frozen.shift(dt.timedelta(minutes=30) - dt.timedelta(seconds=1))
    assert client.get(path).status_code == 200
    frozen.shift(dt.timedelta(seconds=1))
    assert client.get(path).status_code == 404
    assert _reset(client, path) == 404
    account.refresh_from_db()
    assert account.check_password(FACTORY_PASSWORD)


def test_reset_link_lifetime_is_configuration(client, account, frozen, settings):
    settings.MEISAI_RESET_LINK_MINUTES = 45
    path = _reset_link(client)
    frozen.shift(dt.timedelta(minutes=44))
    assert client.get(path).status_code == 200
    frozen.shift(dt.timedelta(minutes=1))
    assert client.get(path).status_code == 404


def test_reset_link_dies_once_used(client, account):
    path = _reset_link(client)
    assert _reset(client, path) == 302
    assert client.get(path).status_code == 404
    assert _reset(client, path, "another-pass-9") == 404
    account.refresh_from_db()
    assert account.check_password(NEW_PASSWORD)


def test_reset_link_dies_when_the_account_logs_in(client, account):
    path = _reset_link(Client())
    # The member remembered the password after all and logs in (password and emailed code).
    log_in(client, "kitakami.jiro", FACTORY_PASSWORD, "jiro@example.jp")
    assert Client().get(path).status_code == 404
    assert _reset(Client(), path) == 404
    account.refresh_from_db()
    assert account.check_password(FACTORY_PASSWORD)


def test_reset_link_dies_when_a_remembered_browser_logs_in(client, account):
    log_in(client, "kitakami.jiro", FACTORY_PASSWORD, "jiro@example.jp")
    client.post("/logout/")
    path = _reset_link(Client())
    login = client.post("/login/", {"username": "kitakami.jiro", "password": FACTORY_PASSWORD})
    assert login.url == "/"
    assert Client().get(path).status_code == 404


def test_a_password_typed_without_the_code_leaves_the_link_alone(client, account):
    """Only a finished login ends the link: the password alone (a new browser still waiting for
    its code) is not yet the member."""
    path = _reset_link(Client())
    assert (
        client.post("/login/", {"username": "kitakami.jiro", "password": FACTORY_PASSWORD}).url
        == "/login/code/"
    )
    assert Client().get(path).status_code == 200


def test_reset_link_dies_when_the_password_changes(member_client, account):
    path = _reset_link(Client())
    changed = member_client.post(
        "/account/password/",
        {
            "current_password": FACTORY_PASSWORD,
            "password": "ichinoseki-2025-haru",
            "password_confirm": "ichinoseki-2025-haru",
        },
    )
    assert changed.url == "/account/"
    assert Client().get(path).status_code == 404
    assert _reset(Client(), path) == 404
    account.refresh_from_db()
    assert account.check_password("ichinoseki-2025-haru")


def test_reset_link_dies_when_the_address_changes(member_client, account):
    path = _reset_link(Client())
    confirm = _email_change_link(member_client)
    assert Client().get(path).status_code == 200  # a request alone changes nothing
    assert Client().post(confirm).status_code == 200
    account.refresh_from_db()
    assert account.email == "jiro.new@example.jp"
    assert Client().get(path).status_code == 404
    assert _reset(Client(), path) == 404


def test_a_new_password_ends_a_pending_email_change(member_client, account):
    confirm = _email_change_link(member_client)
    member_client.post(
        "/account/password/",
        {
            "current_password": FACTORY_PASSWORD,
            "password": "ichinoseki-2025-haru",
            "password_confirm": "ichinoseki-2025-haru",
        },
    )
    assert Client().get(confirm).status_code == 404
    assert Client().post(confirm).status_code == 404
    account.refresh_from_db()
    assert account.email == "jiro@example.jp"


def test_a_reset_ends_a_pending_email_change(member_client, account):
    confirm = _email_change_link(member_client)
    assert _reset(Client(), _reset_link(Client())) == 302
    assert Client().post(confirm).status_code == 404
    account.refresh_from_db()
    assert account.email == "jiro@example.jp"


def test_reset_forgets_the_remembered_browsers(client, account):
    log_in(client, "kitakami.jiro", FACTORY_PASSWORD, "jiro@example.jp")
    client.post("/logout/")
    assert RememberedBrowser.objects.filter(account=account).count() == 1

    assert _reset(Client(), _reset_link(Client())) == 302

    assert RememberedBrowser.objects.filter(account=account).count() == 0
    again = client.post("/login/", {"username": "kitakami.jiro", "password": NEW_PASSWORD})
    assert again.url == "/login/code/"
    assert "_auth_user_id" not in client.session
    code = code_in(outbox("jiro@example.jp", "login_code")[-1])
    assert client.post("/login/code/", {"code": code}).url == "/"
    entry = AuditEntry.objects.get(action="account_password_reset")
    assert entry.detail == {"sessions_ended": 1, "browsers_forgotten": 1}


def _python(code: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MEISAI_RESET_LINK_MINUTES"}
    env.update(variables, DJANGO_SETTINGS_MODULE="meisai.settings")
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("variables", "minutes"), [({}, "30"), ({"MEISAI_RESET_LINK_MINUTES": "15"}, "15")]
)
def test_reset_link_minutes_come_from_the_environment(variables, minutes):
    result = _python(
        "import django; django.setup(); from django.conf import settings;"
        " print(settings.MEISAI_RESET_LINK_MINUTES)",
        variables,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == minutes


@pytest.mark.parametrize("value", ["0", "-5", "thirty", "30m", "1441"])
def test_a_bad_reset_link_lifetime_stops_the_start_with_one_line(value):
    result = _python("import meisai.config", {"MEISAI_RESET_LINK_MINUTES": value})
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "django.core.exceptions.ImproperlyConfigured: MEISAI_RESET_LINK_MINUTES "
    ), last


# --- links that change state open a page with a button ------------------------------------------


def test_identity_link_get_changes_nothing(client, cardholder):
    identity_path = start_registration(client)
    before = OutboxMessage.objects.count()
    for _ in range(3):
        assert Client().get(identity_path).status_code == 200
        assert Client().head(identity_path).status_code in {200, 405}
    registration = Registration.objects.get()
    assert registration.state == Registration.State.EMAIL_SENT
    assert registration.email_token_used_at is None
    assert OutboxMessage.objects.count() == before
    assert client.post(identity_path, identity()).url == "/register/confirm/"


def test_completion_link_opens_a_page_with_a_button_and_get_changes_nothing(client, cardholder):
    completion = _completion_link(client)
    before = OutboxMessage.objects.count()

    scanner = Client()
    page = scanner.get(completion)
    scanner.head(completion)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<form method="post"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "登録を完了する</button>" in html
    assert Account.objects.count() == 0
    assert Registration.objects.get().state == Registration.State.COMPLETION_SENT
    assert OutboxMessage.objects.count() == before
    assert AuditEntry.objects.count() == 0

    browser = Client()  # the phone's mail app: no session of the registration
    assert browser.get(completion).status_code == 200
    done = browser.post(completion)
    assert done.status_code == 200
    assert "登録完了" in done.content.decode()
    assert Account.objects.get().login_id == "morioka.hanako"
    assert Registration.objects.get().state == Registration.State.COMPLETED
    assert browser.get(completion).status_code == 404
    assert browser.post(completion).status_code == 404


def test_completion_post_needs_the_csrf_token(client, cardholder):
    completion = _completion_link(client)
    browser = Client(enforce_csrf_checks=True)
    assert browser.get(completion).status_code == 200
    assert browser.post(completion).status_code == 403
    assert Account.objects.count() == 0


def test_a_dead_completion_link_shows_the_invalid_page_on_get(client, cardholder, frozen):
    completion = _completion_link(client)
    frozen.shift(dt.timedelta(hours=24))
    page = client.get(completion)
    assert page.status_code == 404
    assert "この完了手続きURLは無効です" in page.content.decode()
    assert client.get("/register/complete/abc:def:ghi/").status_code == 404


def test_email_confirm_link_opens_a_page_with_a_button_and_get_changes_nothing(
    member_client, account
):
    confirm = _email_change_link(member_client)
    before = OutboxMessage.objects.count()

    scanner = Client()
    page = scanner.get(confirm)
    scanner.head(confirm)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<form method="post"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "jiro.new@example.jp" in html
    assert "変更を確定する</button>" in html
    account.refresh_from_db()
    assert account.email == "jiro@example.jp"
    assert AccountToken.objects.get(purpose="email_change").used_at is None
    assert OutboxMessage.objects.count() == before

    done = Client().post(confirm)
    assert done.status_code == 200
    assert "今後のお知らせは jiro.new@example.jp にお送りします。" in done.content.decode()
    account.refresh_from_db()
    assert account.email == "jiro.new@example.jp"
    assert Client().get(confirm).status_code == 404


def test_email_confirm_post_needs_the_csrf_token(member_client, account):
    confirm = _email_change_link(member_client)
    browser = Client(enforce_csrf_checks=True)
    assert browser.get(confirm).status_code == 200
    assert browser.post(confirm).status_code == 403
    account.refresh_from_db()
    assert account.email == "jiro@example.jp"


def test_reset_link_get_changes_nothing(client, account):
    path = _reset_link(client)
    for _ in range(3):
        assert Client().get(path).status_code == 200
    assert AccountToken.objects.get(purpose="password_reset").used_at is None
    assert _reset(client, path) == 302


# --- the personal message asks for the current password -----------------------------------------


def test_personal_message_change_asks_for_the_current_password(member_client, account):
    form = member_client.get("/account/message/").content.decode()
    assert 'name="current_password"' in form
    assert 'autocomplete="current-password"' in form

    for data in (
        {"personal_message": "遠野のかっぱ"},
        {"personal_message": "遠野のかっぱ", "current_password": "wrong-password"},
    ):
        page = member_client.post("/account/message/", data)
        assert page.status_code == 200
        account.refresh_from_db()
        assert account.personal_message == "北上川の桜"
    assert "現在のパスワードが正しくありません。" in page.content.decode()
    assert OutboxMessage.objects.count() == 0
    assert AuditEntry.objects.count() == 0

    done = member_client.post(
        "/account/message/",
        {"personal_message": "遠野のかっぱ", "current_password": FACTORY_PASSWORD},
    )
    assert done.url == "/account/"
    account.refresh_from_db()
    assert account.personal_message == "遠野のかっぱ"
