"""Publication and the 請求額確定 email (SPEC 3.6): exactly one email per member and month."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import CommandError, call_command
from django.db import connection

from meisai.billing_calendar import BillingMonth
from meisai.notifications.models import OutboxMessage
from meisai.notifications.sender import outbox_send_due
from meisai.statements.models import MonthClose, Statement
from meisai.statements.publish import PublishRefused, statement_publish_due
from tests.factories import AccountFactory, CardFactory, MemberFactory, UsageLineFactory
from tests.statements.cycle import close, jst, publish

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.MEISAI_BASE_URL = "https://meisai.example.jp"
    settings.MEISAI_ISSUER_NAME = "日専連テスト"


@pytest.fixture
def april():
    """Two members with web accounts and April usage, one without an account, one with an
    account but no April usage, one whose account was closed."""
    with_account = [MemberFactory(name_kanji=f"会員 {i}") for i in range(2)]
    for member in with_account:
        CardFactory(
            member=member,
            number="4980123412341234" if member is with_account[0] else "4980000011112222",
        )
        AccountFactory(member=member)
        UsageLineFactory(member=member, billing_month="2025-04", billed_amount=54_321)
    paper_only = MemberFactory()
    UsageLineFactory(member=paper_only, billing_month="2025-04")
    no_usage = MemberFactory()
    AccountFactory(member=no_usage)
    closed_account = MemberFactory()
    AccountFactory(member=closed_account, is_active=False)
    UsageLineFactory(member=closed_account, billing_month="2025-04")
    close("2025-04")
    return with_account


def test_publish_before_close_is_refused_and_changes_nothing():
    UsageLineFactory(billing_month="2025-04")
    with pytest.raises(PublishRefused, match="締め処理が完了していない"):
        publish("2025-04")
    assert OutboxMessage.objects.count() == 0
    assert MonthClose.objects.count() == 0


def test_publish_makes_statements_visible_and_emails_members_with_a_web_account(
    april, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = publish("2025-04", at=jst(2025, 4, 14, 9, 0))

    assert (result.statements_published, result.emails_queued, result.first_publication) == (
        4,
        2,
        True,
    )
    assert set(Statement.objects.values_list("published_at", flat=True)) == {jst(2025, 4, 14, 9)}
    record = MonthClose.objects.get()
    assert (record.published_at, record.published_by) == (jst(2025, 4, 14, 9), "test-operator")
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        account.email for member in april for account in member.accounts.all()
    )
    message = next(m for m in mail.outbox if m.to[0] == april[0].accounts.get().email)
    assert message.subject == "【日専連テスト】2025年4月請求分のご請求額が確定しました"
    assert "会員 0 様" in message.body
    assert "https://meisai.example.jp/statements/2025-04/" in message.body
    html = message.alternatives[0][0]
    assert 'href="https://meisai.example.jp/statements/2025-04/"' in html
    # No amount and no card number (SPEC 3.6).
    for text in (message.subject, message.body, html):
        assert "54,321" not in text and "54321" not in text
        assert "4980123412341234" not in text and "1234" not in text


def test_publish_twice_sends_exactly_one_email_per_member(
    april, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        publish("2025-04")
    with django_capture_on_commit_callbacks(execute=True):
        again = publish("2025-04", at=jst(2025, 4, 15, 9, 0))

    assert (again.statements_published, again.emails_queued, again.first_publication) == (
        0,
        0,
        False,
    )
    assert len(mail.outbox) == 2
    assert MonthClose.objects.get().published_at == jst(2025, 4, 13, 9, 0)
    assert set(Statement.objects.values_list("published_at", flat=True)) == {jst(2025, 4, 13, 9)}


def test_a_sender_that_dies_halfway_still_delivers_exactly_one_each(april, monkeypatch):
    more = [MemberFactory() for _ in range(3)]
    for member in more:
        AccountFactory(member=member)
        UsageLineFactory(member=member, billing_month="2025-05")
    close("2025-05")
    publish("2025-05")  # on-commit callbacks not run: the rows wait in the outbox
    assert OutboxMessage.objects.filter(status="pending").count() == 3

    original = EmailBackend.send_messages
    calls = {"n": 0}

    def dies_on_the_second(self, messages):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return original(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", dies_on_the_second)
    with pytest.raises(RuntimeError, match="^worker killed$"):
        outbox_send_due()
    assert len(mail.outbox) == 1

    publish("2025-05", at=jst(2025, 5, 14, 9, 0))  # the operator runs publish again
    monkeypatch.setattr(EmailBackend, "send_messages", original)
    outbox_send_due()

    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        member.accounts.get().email for member in more
    )
    assert OutboxMessage.objects.filter(status="sent").count() == 3


def test_statement_publish_due_publishes_on_the_confirmation_day_only(april):
    # 2025-04-13 is a Sunday: April's confirmation day is Monday the 14th.
    assert statement_publish_due(today=dt.date(2025, 4, 13)) is None
    result = statement_publish_due(today=dt.date(2025, 4, 14))
    assert result is not None and result.month == BillingMonth(2025, 4)
    assert result.emails_queued == 2
    assert MonthClose.objects.get().published_by == "scheduler"
    assert statement_publish_due(today=dt.date(2025, 4, 14)) is None


def test_statement_publish_due_raises_when_the_due_month_is_not_closed():
    UsageLineFactory(billing_month="2025-05")
    with pytest.raises(
        PublishRefused, match="^2025年5月請求分はまだ締め処理が完了していないため公開できません"
    ):
        statement_publish_due(today=dt.date(2025, 5, 13))
    assert OutboxMessage.objects.count() == 0


def test_publish_command(april, capsys, time_machine):
    time_machine.move_to(jst(2025, 4, 14, 9, 0), tick=False)
    call_command("publish", "2025-04")
    out = capsys.readouterr().out
    assert "2025年4月請求分: 公開しました。" in out
    assert "請求額確定メール: 2通を送信待ちにしました" in out
    with pytest.raises(CommandError, match="締め処理が完了していない"):
        call_command("publish", "2025-06")


# --- PostgreSQL: publication updates the month's statements in place ---------------------------

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL's HOT updates",
)


def _statement_updates() -> tuple[int, int]:
    """Updates of statements in this transaction so far: (all, on the row's own page)."""
    with connection.cursor() as cursor:
        cursor.execute(
            # The table's partitions (statements.partitions) hold the rows and their counts.
            "SELECT SUM(n_tup_upd), SUM(n_tup_hot_upd) FROM pg_stat_xact_user_tables"
            " WHERE relid IN (SELECT inhrelid FROM pg_inherits"
            "                 WHERE inhparent = 'statements_statement'::regclass)"
        )
        row = cursor.fetchone()
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


@postgres_only
def test_publication_updates_each_statement_on_its_own_page():
    # More statements than one page holds when full (about 55 of these rows): publication's
    # UPDATE must find room beside each row, or it writes a new row elsewhere and an entry in
    # every index of the table.
    members = MemberFactory.create_batch(120)
    for member in members:
        UsageLineFactory(member=member, billing_month="2025-04")
    close("2025-04")
    before = _statement_updates()

    assert publish("2025-04").statements_published == 120

    after = _statement_updates()
    assert (after[0] - before[0], after[1] - before[1]) == (120, 120)
