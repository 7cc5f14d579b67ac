"""お客様情報 (/account/) and recovery (SPEC 3.5): email, password and personal message
changes, forgotten password and forgotten ID. Every change tells the address on file."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from meisai.accounts.models import AccountToken
from meisai.notifications.models import OutboxMessage
from tests.accounts.conftest import CARD_NUMBER, link_in, log_in, outbox
from tests.html import without_csrf_tokens

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _no_secrets_in_mail(*secrets: str) -> None:
    for message in OutboxMessage.objects.all():
        for body in (message.subject, message.body_text, message.body_html):
            for secret in (CARD_NUMBER, *secrets):
                assert secret not in body
            assert "円" not in body


def test_account_page_shows_the_account_and_links_to_the_paper_page(member_client):
    page = member_client.get("/account/").content.decode()
    assert "kitakami.jiro" in page
    assert "jiro@example.jp" in page
    assert "北上川の桜" in page
    assert 'href="/account/paper/"' in page
    assert "紙明細停止選択" in page


def test_account_pages_need_login(client, db):
    for path in ("/account/", "/account/email/", "/account/password/", "/account/message/"):
        assert client.get(path).url == f"/login/?next={path}"


def test_email_change_is_confirmed_by_a_link_to_the_new_address(member_client, account):
    response = member_client.post(
        "/account/email/",
        {
            "email": "jiro.new@example.jp",
            "email_confirm": "jiro.new@example.jp",
            "current_password": PASSWORD,
        },
    )
    assert response.url == "/account/"
    account.refresh_from_db()
    assert account.email == "jiro@example.jp"  # not before the link is followed
    requested = outbox("jiro@example.jp", "email_change_requested")
    assert len(requested) == 1
    confirm = outbox("jiro.new@example.jp", "email_change_confirm")
    assert len(confirm) == 1
    path = link_in(confirm[0])

    # The link works in any browser, e.g. the phone's mail app: its page's button confirms.
    assert Client().get(path).status_code == 200
    account.refresh_from_db()
    assert account.email == "jiro@example.jp"  # opening the link changes nothing
    done = Client().post(path)
    assert done.status_code == 200
    assert "今後のお知らせは jiro.new@example.jp にお送りします。" in done.content.decode()
    account.refresh_from_db()
    assert account.email == "jiro.new@example.jp"
    changed = outbox("jiro@example.jp", "email_changed")
    assert len(changed) == 1
    assert "ログインID「kitakami.jiro」のメールアドレスを変更しました。" in changed[0].body_text
    assert Client().get(path).status_code == 404
    assert Client().post(path).status_code == 404
    _no_secrets_in_mail(PASSWORD)


def test_email_change_needs_the_current_password(member_client, account):
    page = member_client.post(
        "/account/email/",
        {"email": "x@example.jp", "email_confirm": "x@example.jp", "current_password": "nope"},
    )
    assert "現在のパスワードが正しくありません。" in page.content.decode()
    assert AccountToken.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_email_change_link_expires_after_24_hours(member_client, account, frozen):
    member_client.post(
        "/account/email/",
        {"email": "x@example.jp", "email_confirm": "x@example.jp", "current_password": PASSWORD},
    )
    path = link_in(outbox("x@example.jp", "email_change_confirm")[0])
    frozen.shift(dt.timedelta(hours=24) - dt.timedelta(seconds=1))
    assert Client().get(path).status_code == 200
    frozen.shift(dt.timedelta(seconds=1))
    assert Client().get(path).status_code == 404
    assert Client().post(path).status_code == 404
    account.refresh_from_db()
    assert account.email == "jiro@example.jp"


def test_password_change_ends_other_sessions_and_tells_the_member(member_client, account):
    other = Client()
    log_in(other, "kitakami.jiro", PASSWORD, "jiro@example.jp")
    other_key = other.session.session_key
    assert other.get("/account/").status_code == 200

    new = "ichinoseki-2025-haru"
    response = member_client.post(
        "/account/password/",
        {"current_password": PASSWORD, "password": new, "password_confirm": new},
    )
    assert response.url == "/account/"
    account.refresh_from_db()
    assert account.check_password(new)
    assert account.password.startswith("argon2$argon2id$")
    assert member_client.get("/account/").status_code == 200
    assert not Session.objects.filter(session_key=other_key).exists()
    assert other.get("/account/").url == "/login/?next=/account/"
    notice = outbox("jiro@example.jp", "password_changed")
    assert len(notice) == 1
    assert notice[0].subject == "【日専連パートナーズ】WEBサービス パスワード変更のお知らせ"
    _no_secrets_in_mail(PASSWORD, new)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {
                "current_password": "wrong",
                "password": "a-fine-pass-1",
                "password_confirm": "a-fine-pass-1",
            },
            "現在のパスワードが正しくありません。",
        ),
        (
            {
                "current_password": PASSWORD,
                "password": "kitakami.jiro!",
                "password_confirm": "kitakami.jiro!",
            },
            "パスワードにログインIDを含めることはできません。",
        ),
        (
            {
                "current_password": PASSWORD,
                "password": "x19500203x",
                "password_confirm": "x19500203x",
            },
            "パスワードに生年月日を含めることはできません。",
        ),
        (
            {
                "current_password": PASSWORD,
                "password": "a-fine-pass-1",
                "password_confirm": "a-fine-pass-2",
            },
            "確認用のパスワードが一致しません。",
        ),
    ],
)
def test_password_change_refused(member_client, account, data, error):
    before = account.password
    page = member_client.post("/account/password/", data)
    assert error in page.content.decode()
    account.refresh_from_db()
    assert account.password == before
    assert OutboxMessage.objects.count() == 0


def test_personal_message_change(member_client, account):
    response = member_client.post(
        "/account/message/", {"personal_message": "遠野のかっぱ", "current_password": PASSWORD}
    )
    assert response.url == "/account/"
    account.refresh_from_db()
    assert account.personal_message == "遠野のかっぱ"
    notice = outbox("jiro@example.jp", "personal_message_changed")
    assert len(notice) == 1
    assert "遠野のかっぱ" not in notice[0].body_text


def test_personal_message_longer_than_20_characters_is_refused(member_client, account):
    page = member_client.post(
        "/account/message/", {"personal_message": "あ" * 21, "current_password": PASSWORD}
    )
    assert "20 文字以下" in page.content.decode()
    account.refresh_from_db()
    assert account.personal_message == "北上川の桜"
    assert OutboxMessage.objects.count() == 0


# --- forgotten password and forgotten ID ---------------------------------------------------------


def test_forgotten_password_reset_by_emailed_single_use_link(client, account, frozen):
    old_browser = Client()
    log_in(old_browser, "kitakami.jiro", PASSWORD, "jiro@example.jp")
    page = client.post(
        "/login/forgot-password/", {"card_number": CARD_NUMBER, "birth_date": "1950-02-03"}
    )
    assert "パスワード再設定用のURLをお送りしました" in page.content.decode()
    mail = outbox("jiro@example.jp", "password_reset")
    assert len(mail) == 1
    assert "有効期限:2025年1月10日 10:30まで(1回のみ有効)" in mail[0].body_text
    path = link_in(mail[0])
    new = "hiraizumi-konjikido"
    response = client.post(path, {"password": new, "password_confirm": new})
    assert response.url == "/login/"
    account.refresh_from_db()
    assert account.check_password(new)
    assert old_browser.get("/account/").url == "/login/?next=/account/"
    assert len(outbox("jiro@example.jp", "password_changed")) == 1
    assert client.get(path).status_code == 404
    assert (
        client.post(
            path, {"password": "another-pass-9", "password_confirm": "another-pass-9"}
        ).status_code
        == 404
    )
    account.refresh_from_db()
    assert account.check_password(new)
    _no_secrets_in_mail(new)


@pytest.mark.parametrize(
    "data",
    [
        {"card_number": CARD_NUMBER, "birth_date": "1950-02-04"},
        {"card_number": "4980999999999999", "birth_date": "1950-02-03"},
    ],
    ids=["wrong birth date", "unknown card"],
)
def test_forgotten_password_answers_the_same_when_nothing_matches(client, account, data):
    matched = client.post(
        "/login/forgot-password/", {"card_number": CARD_NUMBER, "birth_date": "1950-02-03"}
    )
    unmatched = client.post("/login/forgot-password/", data)
    assert matched.status_code == unmatched.status_code == 200
    assert "パスワード再設定用のURLをお送りしました" in unmatched.content.decode()
    assert len(outbox("jiro@example.jp", "password_reset")) == 1


def test_reset_link_expires_after_30_minutes(client, account, frozen):
    client.post("/login/forgot-password/", {"card_number": CARD_NUMBER, "birth_date": "1950-02-03"})
    path = link_in(outbox("jiro@example.jp", "password_reset")[0])
    frozen.shift(dt.timedelta(minutes=30))
    assert client.get(path).status_code == 404


def test_reset_password_follows_the_policy(client, account):
    client.post("/login/forgot-password/", {"card_number": CARD_NUMBER, "birth_date": "1950-02-03"})
    path = link_in(outbox("jiro@example.jp", "password_reset")[0])
    page = client.post(path, {"password": "short", "password_confirm": "short"})
    assert "最低 8 文字" in page.content.decode()
    account.refresh_from_db()
    assert account.check_password(PASSWORD)


def test_forgotten_id_is_emailed_to_the_address_on_file(client, account):
    page = client.post("/login/forgot-id/", {"email": "JIRO@example.jp"})
    assert "ログインIDをお知らせするメールをお送りしました" in page.content.decode()
    mail = outbox("jiro@example.jp", "login_id_reminder")
    assert len(mail) == 1
    assert "ログインID:kitakami.jiro" in mail[0].body_text
    unknown = client.post("/login/forgot-id/", {"email": "nobody@example.jp"})
    assert without_csrf_tokens(
        unknown.content.decode().replace("nobody@example.jp", "")
    ) == without_csrf_tokens(page.content.decode().replace("JIRO@example.jp", ""))
    assert OutboxMessage.objects.filter(to="nobody@example.jp").count() == 0


def test_recovery_is_throttled_per_client_address(client, account):
    for _ in range(10):
        client.post("/login/forgot-id/", {"email": "nobody@example.jp"}, REMOTE_ADDR="198.51.100.7")
    refused = client.post(
        "/login/forgot-id/", {"email": "jiro@example.jp"}, REMOTE_ADDR="198.51.100.7"
    )
    assert refused.status_code == 429
    assert outbox("jiro@example.jp") == []
