"""What an operator does from a member's page on the member's request: each action needs a
reason, is audited with the staff login, the client address and the member, and is absent for
an auditor, whose POST is refused (SPEC 2, 3.2, 3.4, 3.5, 3.10)."""

from __future__ import annotations

import datetime as dt
from importlib import import_module

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.messages import get_messages

from meisai.accounts.card_locks import card_failure_record, card_locked_until
from meisai.accounts.login_ids import login_id_key
from meisai.accounts.models import Account, AccountSession, RegistrationFailure
from meisai.accounts.staff_changes import StaffChangeRefused, account_enable
from meisai.audit.models import AuditEntry
from meisai.backoffice.roles import Role
from meisai.clock import JST
from meisai.members.models import DeliveryPreference, Member
from meisai.notifications.models import OutboxMessage
from tests.factories import AccountFactory, CardFactory, MemberFactory, StatementFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 6, 20, 10, 0, tzinfo=JST)
PAGE = "/backoffice/members/M0003001/"
STAFF_IP = "192.0.2.50"


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def member(frozen) -> Member:
    member = MemberFactory(member_no="M0003001", name_kanji="盛岡 太郎")
    CardFactory(member=member, number="4980123456785678")
    return member


@pytest.fixture
def account(member) -> Account:
    return AccountFactory(member=member, login_id="morioka.taro", email="taro@example.jp")


@pytest.fixture
def operator(staff_client):
    return staff_client(Role.OPERATOR)


def _post(client, action: str, **data: str):
    return client.post(f"{PAGE}{action}/", data, REMOTE_ADDR=STAFF_IP)


def _said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _entry(action: str) -> tuple:
    entry = AuditEntry.objects.get(action=action)
    return entry.actor, entry.client_ip, entry.member_id, entry.detail


def _session_of(account: Account) -> str:
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["member"] = account.pk
    store.create()
    AccountSession.objects.create(account=account, session_key=store.session_key, created_at=NOW)
    return store.session_key


def _session_exists(key: str) -> bool:
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(key)


# --- locks ----------------------------------------------------------------------------------


def _lock_login(login_id: str) -> None:
    AccessAttempt.objects.create(
        username=login_id_key(login_id),
        ip_address="203.0.113.9",
        user_agent="test",
        get_data="",
        post_data="",
        http_accept="*/*",
        path_info="/login/",
        failures_since_start=10,
    )


def test_an_operator_lifts_a_login_lock_with_a_reason(operator, account, member):
    _lock_login("morioka.taro")

    response = _post(operator, "login_unlock", reason="ご本人から電話(本人確認済み)")

    assert response.status_code == 302
    assert response.url == PAGE
    assert _said(response) == ["ログインIDのロックを解除しました(失敗記録1件を消去)。"]
    assert not AccessAttempt.objects.exists()
    assert _entry("account_login_unlock") == (
        "staff-operator",
        STAFF_IP,
        member.pk,
        {"login_id": "morioka.taro", "reason": "ご本人から電話(本人確認済み)", "cleared": 1},
    )
    assert "ロックなし" in operator.get(PAGE).content.decode()


def test_an_operator_lifts_a_registration_lock(operator, member):
    card_hash = member.cards.get().number_hash
    for _ in range(5):
        card_failure_record(card_hash=card_hash)
    assert card_locked_until(card_hash=card_hash) is not None

    response = _post(operator, "registration_unlock", reason="窓口で本人確認")

    assert _said(response) == ["登録手続きの停止を解除しました(失敗記録5件を消去)。"]
    assert card_locked_until(card_hash=card_hash) is None
    assert _entry("registration_unlock") == (
        "staff-operator",
        STAFF_IP,
        member.pk,
        {"reason": "窓口で本人確認", "cleared": 5},
    )


@pytest.mark.parametrize("reason", ["", "   ", "あ" * 201])
def test_no_action_without_a_bounded_reason(operator, member, reason):
    for _ in range(5):
        card_failure_record(card_hash=member.cards.get().number_hash)

    response = _post(operator, "registration_unlock", reason=reason)

    assert response.status_code == 302
    [said] = _said(response)
    assert said.startswith("登録手続きの停止解除: ")
    assert RegistrationFailure.objects.count() == 5
    assert not AuditEntry.objects.filter(action="registration_unlock").exists()


def test_an_auditors_post_is_refused_and_changes_nothing(staff_client, account, member):
    _lock_login("morioka.taro")
    auditor = staff_client(Role.AUDITOR)

    for action in ["login_unlock", "account_disable", "sessions_end", "registration_mail"]:
        assert _post(auditor, action, reason="試し").status_code == 403
    assert _post(auditor, "delivery_change", method="paper", reason="試し").status_code == 403

    assert AccessAttempt.objects.count() == 1
    assert Account.objects.get(pk=account.pk).is_active
    assert not DeliveryPreference.objects.exists()
    assert not OutboxMessage.objects.exists()
    assert not AuditEntry.objects.exclude(action="member_view").exists()


def test_an_unknown_action_or_member_is_404_and_a_get_is_refused(operator, member):
    assert _post(operator, "make_rich", reason="x").status_code == 404
    assert operator.post("/backoffice/members/M9/login_unlock/", {"reason": "x"}).status_code == 404
    assert operator.get(f"{PAGE}login_unlock/").status_code == 405


# --- the paper preference --------------------------------------------------------------------


def test_paper_on_request_before_the_cutoff_applies_to_this_month(operator, member, frozen):
    frozen.move_to(dt.datetime(2025, 7, 9, 23, 59, tzinfo=JST))

    response = _post(operator, "delivery_change", method="paper", reason="電話で紙を希望")

    assert _said(response) == ["明細の受け取り方を紙明細に変更しました(2025年7月請求分から反映)。"]
    change = DeliveryPreference.objects.get()
    assert (change.method, change.source, change.reason, change.actor) == (
        "paper",
        "operator",
        "電話で紙を希望",
        "staff-operator",
    )
    assert _entry("delivery_preference_change") == (
        "staff-operator",
        STAFF_IP,
        member.pk,
        {
            "method": "paper",
            "source": "operator",
            "reason": "電話で紙を希望",
            "first_month": "2025-07",
        },
    )


def test_paper_on_request_on_the_10th_applies_from_next_month(operator, member, frozen):
    frozen.move_to(dt.datetime(2025, 7, 10, 0, 0, tzinfo=JST))
    assert "2025年8月請求分" in operator.get(PAGE).content.decode()  # what the page says

    response = _post(operator, "delivery_change", method="paper", reason="電話で紙を希望")

    assert _said(response) == ["明細の受け取り方を紙明細に変更しました(2025年8月請求分から反映)。"]


def test_web_is_refused_for_a_member_who_must_get_paper(operator, member):
    Member.objects.filter(pk=member.pk).update(paper_required=True)

    response = _post(operator, "delivery_change", method="web", reason="WEB希望")

    assert _said(response) == [
        "明細の受け取り方の変更: お客様のご契約では紙の明細書の送付が必要なため、紙明細を停止できません。"
    ]
    assert not DeliveryPreference.objects.exists()
    assert not AuditEntry.objects.filter(action="delivery_preference_change").exists()


# --- sessions and the account ----------------------------------------------------------------


def test_ending_every_session_logs_the_member_out_everywhere(operator, account, member):
    keys = [_session_of(account), _session_of(account)]

    response = _post(operator, "sessions_end", reason="スマートフォン紛失")

    assert _said(response) == ["ログイン中のセッションを2件終了しました。"]
    assert not any(_session_exists(key) for key in keys)
    assert not AccountSession.objects.exists()
    assert Account.objects.get(pk=account.pk).is_active
    assert _entry("account_sessions_end") == (
        "staff-operator",
        STAFF_IP,
        member.pk,
        {"login_id": "morioka.taro", "reason": "スマートフォン紛失", "sessions_ended": 2},
    )


def test_a_disabled_account_cannot_log_in_and_an_enabled_one_can(operator, account, member):
    key = _session_of(account)

    response = _post(operator, "account_disable", reason="不正利用の疑い")

    assert _said(response) == ["WEBアカウントを停止しました(セッション1件を終了)。"]
    disabled = Account.objects.get(pk=account.pk)
    assert (disabled.is_active, disabled.deactivated_at) == (False, NOW)
    assert not _session_exists(key)
    assert _entry("account_disable") == (
        "staff-operator",
        STAFF_IP,
        member.pk,
        {"login_id": "morioka.taro", "reason": "不正利用の疑い", "sessions_ended": 1},
    )
    with pytest.raises(Account.DoesNotExist):  # what login looks up: active accounts only
        Account.objects.get_by_natural_key("morioka.taro")
    assert "停止中" in operator.get(PAGE).content.decode()

    response = _post(operator, "account_enable", reason="ご本人確認済み")

    assert _said(response) == ["WEBアカウントを再開しました。"]
    enabled = Account.objects.get(pk=account.pk)
    assert (enabled.is_active, enabled.deactivated_at) == (True, None)
    assert _entry("account_enable") == (
        "staff-operator",
        STAFF_IP,
        member.pk,
        {"login_id": "morioka.taro", "reason": "ご本人確認済み"},
    )


def test_an_account_replaced_by_re_registration_is_not_enabled_again(operator, member, frozen):
    old = AccountFactory(member=member, login_id="old.taro", is_active=False, deactivated_at=NOW)
    frozen.shift(dt.timedelta(minutes=1))
    AccountFactory(member=member, login_id="new.taro")
    _post(operator, "account_disable", reason="不正利用の疑い")  # the newest: new.taro

    with pytest.raises(StaffChangeRefused, match="再登録で置き換えられたため"):
        account_enable(account=old, actor="staff-operator", reason="再開希望")

    assert not Account.objects.filter(member=member, is_active=True).exists()
    assert not AuditEntry.objects.filter(action="account_enable").exists()


def test_an_account_is_not_enabled_while_another_is_active(operator, member, frozen):
    old = AccountFactory(member=member, login_id="old.taro", is_active=False, deactivated_at=NOW)
    frozen.shift(dt.timedelta(minutes=1))
    AccountFactory(member=member, login_id="new.taro")

    with pytest.raises(StaffChangeRefused, match="有効な別のWEBアカウントがあります"):
        account_enable(account=old, actor="op", reason="再開希望")
    assert not Account.objects.get(pk=old.pk).is_active


# --- emails ------------------------------------------------------------------------------------


def test_the_registration_completed_notice_is_sent_again(operator, account, member):
    response = _post(operator, "registration_mail", reason="メールが届かないとの電話")

    assert _said(response) == ["登録完了メールをtaro@example.jpへ再送しました。"]
    message = OutboxMessage.objects.get()
    entry = AuditEntry.objects.get(action="registration_completed_resend")
    assert (message.template, message.to, message.secret, message.key) == (
        "registration_completed",
        "taro@example.jp",
        False,
        f"registration-completed:account-{account.pk}:resend:{entry.pk}",
    )
    assert "ログインID:morioka.taro" in message.body_text
    assert (entry.actor, entry.client_ip, entry.member_id, entry.detail) == (
        "staff-operator",
        STAFF_IP,
        member.pk,
        {"login_id": "morioka.taro", "reason": "メールが届かないとの電話", "to": "taro@example.jp"},
    )


def test_a_legacy_account_has_no_registration_mail_to_resend(operator, member):
    AccountFactory(member=member, login_id="legacy.taro", source=Account.Source.LEGACY)

    response = _post(operator, "registration_mail", reason="メールが届かない")

    assert _said(response) == [
        "登録完了メール再送: 本人認証サービスから移行したアカウントのため、WEB登録の完了メールはありません。"
    ]
    assert not OutboxMessage.objects.exists()
    assert not AuditEntry.objects.filter(action="registration_completed_resend").exists()


def test_the_statement_confirmed_mail_of_a_month_is_sent_again(operator, account, member):
    StatementFactory(
        member=member,
        billing_month="2025-05",
        published_at=dt.datetime(2025, 5, 13, 9, 0, tzinfo=JST),
    )
    OutboxMessage.objects.create(
        key="statement_confirmed:2025-05:M0003001",
        template="statement_confirmed",
        to="taro@example.jp",
        subject="確定",
        stored_text="本文",
        next_attempt_at=NOW,
        created_at=NOW,
    )

    response = _post(operator, "statement_mail", month="2025-05", reason="メールを削除してしまった")

    assert _said(response) == ["2025年5月請求分の請求額確定メールをtaro@example.jpへ再送しました。"]
    entry = AuditEntry.objects.get(action="statement_confirmed_resend")
    message = OutboxMessage.objects.get(
        key=f"statement_confirmed:2025-05:M0003001:resend:{entry.pk}"
    )
    assert (message.template, message.to, message.secret) == (
        "statement_confirmed",
        "taro@example.jp",
        False,
    )
    assert "/statements/2025-05/" in message.body_text
    assert (entry.actor, entry.client_ip, entry.member_id, entry.detail) == (
        "staff-operator",
        STAFF_IP,
        member.pk,
        {"month": "2025-05", "reason": "メールを削除してしまった", "to": "taro@example.jp"},
    )


@pytest.mark.parametrize("month", ["2025-04", "2025-13", "April"])
def test_no_statement_mail_for_a_month_without_a_published_statement(
    operator, account, member, month
):
    StatementFactory(member=member, billing_month="2025-04", published_at=None)

    response = _post(operator, "statement_mail", month=month, reason="再送希望")

    [said] = _said(response)
    assert said.startswith("請求額確定メール再送: ")
    assert not OutboxMessage.objects.exists()
    assert not AuditEntry.objects.filter(action="statement_confirmed_resend").exists()
