"""会員詳細: one page per member for staff, in Japanese, that never shows a whole card number or
a secret email, and whose every opening is audited (SPEC 3.2, 3.4, 3.5, 3.10)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from axes.models import AccessAttempt

from meisai.accounts.card_locks import card_failure_record
from meisai.accounts.login_ids import login_id_key
from meisai.accounts.models import Consent, Registration, RememberedBrowser
from meisai.audit.models import AuditEntry
from meisai.audit.security_events import security_event
from meisai.backoffice.roles import Role
from meisai.clock import JST
from meisai.members.models import Member
from meisai.notifications.models import OutboxMessage
from tests.factories import (
    AccountFactory,
    CardFactory,
    DeliveryPreferenceFactory,
    MemberFactory,
    PointBalanceFactory,
    ProductFactory,
    StatementFactory,
)

pytestmark = pytest.mark.django_db

CARD_NUMBER = "4980123456785678"
NOW = dt.datetime(2025, 6, 20, 10, 0, tzinfo=JST)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _outbox(key: str, template: str, to: str, *, secret: bool, body: str) -> OutboxMessage:
    message = OutboxMessage(
        key=key,
        template=template,
        to=to,
        subject=f"件名-{template}",
        secret=secret,
        status=OutboxMessage.Status.SENT,
        attempts=1,
        next_attempt_at=NOW,
        created_at=NOW - dt.timedelta(hours=1),
        sent_at=NOW - dt.timedelta(minutes=59),
    )
    message.body_text = body
    message.save()
    return message


@pytest.fixture
def morioka(frozen) -> Member:
    member = MemberFactory(
        member_no="M0002001",
        name_kanji="盛岡 太郎",
        name_kana="モリオカ タロウ",
        email="taro.core@example.jp",
        fee_exempt=True,
    )
    card = CardFactory(member=member, number=CARD_NUMBER, product=ProductFactory())
    CardFactory(
        member=member,
        product=ProductFactory(code="IRIS", name="IRISカード", program_excluded=True),
        is_active=False,
    )
    DeliveryPreferenceFactory(
        member=member,
        method="web",
        source="registration",
        recorded_at=dt.datetime(2025, 1, 5, 12, 0, tzinfo=JST),
    )
    DeliveryPreferenceFactory(
        member=member,
        method="paper",
        source="operator",
        reason="電話で紙を希望",
        actor="op-sato",
        recorded_at=dt.datetime(2025, 3, 12, 9, 0, tzinfo=JST),
    )
    account = AccountFactory(member=member, login_id="morioka.taro", email="taro.web@example.jp")
    account.last_login = dt.datetime(2025, 6, 19, 21, 30, tzinfo=JST)
    account.save()
    RememberedBrowser.objects.create(
        account=account, token_hash="a" * 64, created_at=NOW, last_used_at=NOW
    )
    # Ten failed logins in a row, the tenth ten minutes ago (attempt_time is auto_now_add).
    frozen.move_to(NOW - dt.timedelta(minutes=10))
    AccessAttempt.objects.create(
        username=login_id_key("morioka.taro"),
        ip_address="192.0.2.1",
        user_agent="test",
        get_data="",
        post_data="",
        http_accept="*/*",
        path_info="/login/",
        failures_since_start=10,
    )
    frozen.move_to(NOW)
    consent = Consent.objects.create(terms_version="1", agreed_at=NOW, registration_key="k1")
    Registration.objects.create(
        consent=consent,
        email="taro.new@example.jp",
        state=Registration.State.PENDING,
        email_token_hash="b" * 64,
        email_token_expires_at=NOW,
        member=member,
        card=card,
        login_id="taro.new",
        created_at=NOW - dt.timedelta(days=1),
        completed_at=NOW - dt.timedelta(hours=20),
        takes_effect_at=dt.datetime(2025, 6, 22, 14, 0, tzinfo=JST),
    )
    for reason in ("phone", "phone", "card_data"):
        security_event("registration_failed", member=member, reason=reason)
    for _ in range(5):
        card_failure_record(card_hash=card.number_hash)
    security_event("login", member=member, login_id="morioka.taro")
    StatementFactory(member=member, billing_month="2025-04", usage_total=12000, total=12000)
    StatementFactory(
        member=member,
        billing_month="2025-05",
        delivery="paper",
        usage_total=8000,
        fee_total=165,
        published_at=None,
    )
    PointBalanceFactory(member=member, balance=2500, as_of=dt.date(2025, 5, 31))
    _outbox(
        "statement_confirmed:2025-04:M0002001",
        "statement_confirmed",
        "taro.web@example.jp",
        secret=False,
        body="請求額が確定しました",
    )
    _outbox(
        "login-code:1",
        "login_code",
        "taro.web@example.jp",
        secret=True,
        body="確認コード 314159",
    )
    return member


URL = "/backoffice/members/M0002001/"


def test_the_page_shows_the_member_in_japanese(staff_client, morioka):
    client = staff_client(Role.OPERATOR)

    response = client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    for text in [
        "会員詳細 M0002001 盛岡 太郎",
        "****-****-****-5678",
        "IRISカード(WEB明細対象外)",
        "手数料免除</th><td>あり",
        # delivery: now paper, the history with its sources and reasons, and the cutoff
        '<strong id="delivery-method">紙明細</strong>',
        "WEB登録",
        "オペレーター</td><td>電話で紙を希望</td><td>op-sato",
        '<strong id="change-affects">2025年7月請求分</strong>から反映',
        # the web account
        '<td id="login-id">morioka.taro</td>',
        '<td id="account-source">WEB新規登録</td>',
        "2025-06-19 21:30",
        "ロック中(2025-06-20 10:20まで)",
        '<td id="remembered-browsers">1台</td>',
        "<td>taro.new</td><td>taro.new@example.jp</td>",
        "2025-06-22 14:00",
        # registration attempts: phone first, and the active card lock
        "電話番号の不一致(カード・有効期限・生年月日は一致): 2回",
        "カード番号・有効期限・生年月日の不一致: 1回",
        "登録手続きを停止中(2025-06-21 10:00まで)",
        # statements with totals and delivery
        "2025年4月請求分",
        "12,000円",
        "8,165円",
        "未公開",
        # points
        "2,500ポイント",
        # emails: a plain one with its subject, a secret one by kind only
        "件名-statement_confirmed",
        "login_code",
        "(認証用のURL・コードを含むため件名・本文は表示しません)",
        # security events
        "ログイン",
    ]:
        assert text in page, text
    assert CARD_NUMBER not in page
    assert "314159" not in page
    assert "件名-login_code" not in page
    assert "請求額が確定しました" not in page  # no body, not even a plain one


def test_the_security_events_are_newest_first(staff_client, morioka):
    client = staff_client(Role.AUDITOR)

    events = client.get(URL).context["page"].events

    assert [(event.kind, event.detail) for event in events] == [
        ("login", {}),
        ("registration_failed", {"reason": "card_data"}),
        ("registration_failed", {"reason": "phone"}),
        ("registration_failed", {"reason": "phone"}),
    ]


def test_opening_the_page_is_audited(staff_client, morioka):
    client = staff_client(Role.AUDITOR)

    client.get(URL, REMOTE_ADDR="198.51.100.4")

    entry = AuditEntry.objects.get(action="member_view")
    assert (entry.actor, entry.member_id, entry.client_ip, entry.detail) == (
        "staff-auditor",
        morioka.pk,
        "198.51.100.4",
        {"member_no": "M0002001"},
    )


def test_an_auditor_sees_no_buttons_and_an_operator_does(staff_client, morioka):
    auditor_page = staff_client(Role.AUDITOR).get(URL).content.decode()
    operator_page = staff_client(Role.OPERATOR).get(URL).content.decode()

    assert "閲覧のみの権限です" in auditor_page
    assert "/backoffice/members/M0002001/" + "login_unlock/" not in auditor_page
    assert 'method="post" action="/backoffice/members/' not in auditor_page
    for action in [
        "login_unlock",
        "registration_unlock",
        "registration_mail",
        "statement_mail",
        "delivery_change",
        "sessions_end",
        "account_disable",
    ]:
        assert f'action="/backoffice/members/M0002001/{action}/"' in operator_page, action


def test_an_unknown_member_is_404_and_not_recorded(staff_client, morioka):
    client = staff_client(Role.OPERATOR)

    assert client.get("/backoffice/members/M9999999/").status_code == 404
    assert not AuditEntry.objects.filter(action="member_view").exists()


def test_a_member_without_an_account_or_history(staff_client, frozen):
    MemberFactory(member_no="M0002002")
    client = staff_client(Role.OPERATOR)

    page = client.get("/backoffice/members/M0002002/").content.decode()

    assert "WEBアカウントはありません。" in page
    assert "記録はありません(紙明細)。" in page
    assert "登録手続きの停止はありません。" in page
