"""The outbox sender over real SMTP (a local sink): once each, refusals, an absent server, and a
sender that dies before its commit (SPEC 3.6); messages that carry a secret are wiped in the
save that marks them sent or failed, and get their sealed body back when the outcome is unknown
(SPEC 3.10)."""

from __future__ import annotations

import datetime as dt
import smtplib

import pytest
import time_machine
from bench.smtp_sink import SmtpSink, free_port
from django.db import connection, connections

from meisai.clock import JST
from meisai.core.models import Job
from meisai.notifications import claims, sender
from meisai.notifications.models import WIPED_BODY, OutboxMessage
from meisai.notifications.sender import SmtpUnavailable, outbox_send_due
from meisai.notifications.services import Email, email_enqueue_many
from meisai.notifications.tasks import outbox_send
from tests.production.outbox import queue, states

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2025, 6, 13, 9, 0, tzinfo=JST)


@time_machine.travel(MOMENT, tick=False)
def test_each_message_is_sent_once_with_a_stable_message_id(smtp):
    with SmtpSink() as sink:
        smtp(sink.port)
        queue("a@example.jp", "b@example.jp")

        first = outbox_send_due()
        second = outbox_send_due()

    assert (first.sent, first.failed, first.deferred) == (2, 0, 0)
    assert (second.sent, second.failed, second.deferred) == (0, 0, 0)
    assert sink.count_by_recipient() == {"a@example.jp": 1, "b@example.jp": 1}
    assert sorted(item.message_id for item in sink.received) == [
        "<operators.test.a@example.jp@meisai>",
        "<operators.test.b@example.jp@meisai>",
    ]
    assert {item.subject for item in sink.received} == {
        "【要対応】2025年6月請求分の締め処理が完了していません"
    }
    assert states() == {"a@example.jp": ("sent", 1), "b@example.jp": ("sent", 1)}


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "in turn"])
@time_machine.travel(MOMENT, tick=False)
def test_refusals_defer_4xx_fail_5xx_and_the_rest_goes_out(smtp, pipelining):
    refuse = {"busy@example.jp": "450 mailbox busy", "gone@example.jp": "550 no such user"}
    with SmtpSink(refuse=refuse, pipelining=pipelining) as sink:
        smtp(sink.port)
        queue("busy@example.jp", "gone@example.jp", "ok@example.jp")

        result = outbox_send_due()

    assert (result.sent, result.failed, result.deferred) == (1, 1, 1)
    assert sink.count_by_recipient() == {"ok@example.jp": 1}
    assert states() == {
        "busy@example.jp": ("pending", 1),
        "gone@example.jp": ("failed", 1),
        "ok@example.jp": ("sent", 1),
    }
    busy = OutboxMessage.objects.get(to="busy@example.jp")
    assert busy.next_attempt_at == MOMENT + dt.timedelta(minutes=1)
    assert busy.last_error.startswith("SMTPRecipientsRefused")


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "in turn"])
@time_machine.travel(MOMENT, tick=False)
def test_an_address_with_a_line_break_fails_for_good_and_the_rest_goes_out(smtp, pipelining):
    # No form or import lets such an address in; a row written some other way must neither
    # inject a header nor stop every later run at itself.
    hostile = "a@example.jp\r\nBcc: thief@example.jp"
    with SmtpSink(pipelining=pipelining) as sink:
        smtp(sink.port)
        queue(hostile, "ok@example.jp")

        first = outbox_send_due()
        second = outbox_send_due()

    assert (first.sent, first.failed, first.deferred) == (1, 1, 0)
    assert (second.sent, second.failed, second.deferred) == (0, 0, 0)
    assert sink.count_by_recipient() == {"ok@example.jp": 1}
    assert len(sink.received) == 1
    assert states() == {hostile: ("failed", 1), "ok@example.jp": ("sent", 1)}
    assert OutboxMessage.objects.get(to=hostile).last_error.startswith(
        "Unaddressable: invalid recipient address"
    )


def test_absent_server_stops_the_run_and_holds_nothing_against_the_mail(smtp):
    smtp(free_port())
    with time_machine.travel(MOMENT, tick=False):
        queue("a@example.jp")

        with pytest.raises(SmtpUnavailable):
            outbox_send_due()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts, message.last_error) == ("pending", 0, "")
    assert message.next_attempt_at == MOMENT


@time_machine.travel(MOMENT, tick=False)
def test_a_sender_dying_before_its_commit_delivers_nothing_and_the_next_sends_once(
    smtp, monkeypatch
):
    with SmtpSink() as sink:
        smtp(sink.port)
        queue("a@example.jp")
        original = OutboxMessage.save

        def die(self, *args, **kwargs):
            raise KeyboardInterrupt  # stands for the process ending between data and commit

        monkeypatch.setattr(OutboxMessage, "save", die)
        with pytest.raises(KeyboardInterrupt):
            outbox_send_due()
        monkeypatch.setattr(OutboxMessage, "save", original)
        assert sink.wait_for(1, timeout=0.5) is False
        assert states() == {"a@example.jp": ("pending", 0)}

        result = outbox_send_due()
        sink.wait_for(1, timeout=5)

    assert result.sent == 1
    assert sink.count_by_recipient() == {"a@example.jp": 1}


@time_machine.travel(MOMENT, tick=False)
def test_the_task_records_a_job_with_the_counts(smtp, django_capture_on_commit_callbacks):
    with SmtpSink() as sink:
        smtp(sink.port)
        with django_capture_on_commit_callbacks(execute=False):
            queue("a@example.jp", "b@example.jp", "c@example.jp")

        counts = outbox_send.delay().get()

    assert counts == {"sent": 3, "failed": 0, "deferred": 0}
    job = Job.objects.get()
    assert (job.kind, job.status, job.done, job.total, job.attempts) == (
        "outbox_send",
        "done",
        3,
        3,
        1,
    )
    assert job.counts == {"メール送信": 3, "sent": 3, "failed": 0, "deferred": 0}
    assert (job.started_at, job.finished_at) == (MOMENT, MOMENT)


def test_the_task_with_nothing_due_leaves_no_job():
    assert outbox_send.delay().get() == {"sent": 0, "failed": 0, "deferred": 0}
    assert Job.objects.count() == 0


# --- messages that carry a secret (SPEC 3.10): sealed while due, wiped once done -------------

LINK = "http://127.0.0.1:8000/login/reset/Tok3n-of-the-test/"


def _queue_secret(address: str) -> None:
    email_enqueue_many(
        [
            Email(
                key=f"password-reset:{address}",
                template="password_reset",
                to=address,
                context={"url": LINK, "expires_at": MOMENT},
            )
        ]
    )


@pytest.fixture
def sent_bodies(monkeypatch, settings):
    """The messages the sender hands to SMTP, in order; production settings."""
    settings.MEISAI_DEMO_OUTBOX = False
    bodies: list[str] = []
    original = sender.message_bytes

    def record(message):
        data = original(message)
        bodies.append(data.decode())
        return data

    monkeypatch.setattr(sender, "message_bytes", record)
    return bodies


@time_machine.travel(MOMENT, tick=False)
def test_a_secret_message_is_sealed_until_sent_and_wiped_when_marked_sent(smtp, sent_bodies):
    with SmtpSink() as sink:
        smtp(sink.port)
        _queue_secret("a@example.jp")
        waiting = OutboxMessage.objects.get()
        assert waiting.secret and LINK not in waiting.stored_text + waiting.stored_html

        assert outbox_send_due().sent == 1

    assert sink.count_by_recipient() == {"a@example.jp": 1}
    assert LINK in sent_bodies[0]
    message = OutboxMessage.objects.get()
    assert (message.status, message.stored_text, message.stored_html) == ("sent", WIPED_BODY, "")


@time_machine.travel(MOMENT, tick=False)
def test_a_lost_answer_to_the_final_dot_puts_the_sealed_body_back(smtp, sent_bodies, monkeypatch):
    original = sender._Transport.finish
    calls = {"n": 0}

    def answer_lost(self):
        calls["n"] += 1
        original(self)
        if calls["n"] == 1:
            raise SmtpUnavailable("connection lost before the reply")

    monkeypatch.setattr(sender._Transport, "finish", answer_lost)
    with SmtpSink() as sink:
        smtp(sink.port)
        _queue_secret("a@example.jp")
        with pytest.raises(SmtpUnavailable):
            outbox_send_due()
        back = OutboxMessage.objects.get()
        assert back.status == "pending" and LINK in back.body_text  # sealed, not wiped

        assert outbox_send_due().sent == 1

    assert [LINK in body for body in sent_bodies] == [True, True]  # SMTP's rule: send again
    assert OutboxMessage.objects.get().stored_text == WIPED_BODY


@time_machine.travel(MOMENT, tick=False)
def test_a_refused_final_dot_defers_with_the_sealed_body_or_fails_wiped(
    smtp, sent_bodies, monkeypatch
):
    replies = iter([(451, b"try later"), (554, b"rejected")])

    def refused(self):
        code, reply = next(replies)
        self.dot_written = False
        self.close()
        raise smtplib.SMTPDataError(code, reply)

    monkeypatch.setattr(sender._Transport, "finish", refused)
    with SmtpSink() as sink:
        smtp(sink.port)
        _queue_secret("a@example.jp")
        assert outbox_send_due().deferred == 1
        deferred = OutboxMessage.objects.get()
        assert deferred.status == "pending" and LINK in deferred.body_text

        with time_machine.travel(MOMENT + dt.timedelta(minutes=5), tick=False):
            assert outbox_send_due().failed == 1

    failed = OutboxMessage.objects.get()
    assert (failed.status, failed.stored_text, failed.stored_html) == ("failed", WIPED_BODY, "")


# --- PostgreSQL outside a test's transaction: the mark as the sender runs it in production -----

committing = pytest.mark.django_db(transaction=True)
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the mark's one-message COMMIT is PostgreSQL's"
)


def _activity(pid: int) -> tuple[str, str]:
    """State and last statement of the backend ``pid``, seen from another connection."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT state, query FROM pg_stat_activity WHERE pid = %s", [pid])
            return cursor.fetchone()
    finally:
        other.close()


@committing
@postgres_only
@time_machine.travel(MOMENT, tick=False)
def test_the_mark_commits_in_one_message_that_does_not_wait_for_the_disk(smtp, queued_only):
    with SmtpSink() as sink:
        smtp(sink.port)
        queue("a@example.jp")
        message = OutboxMessage.objects.get()

        assert outbox_send_due(limit=1).sent == 1
        pid = connection.connection.info.backend_pid
        state, query = _activity(pid)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            setting_after = cursor.fetchone()[0]

    # The sender's last statement was the mark: the UPDATE and its COMMIT in one message, this
    # transaction alone without waiting for the disk; the session's setting is untouched.
    assert state == "idle"
    assert query.startswith("UPDATE notifications_outboxmessage SET ")
    assert query.endswith(f"WHERE id = {message.pk}; SET LOCAL synchronous_commit TO off; COMMIT")
    assert setting_after == "on"
    assert sink.count_by_recipient() == {"a@example.jp": 1}
    assert states() == {"a@example.jp": ("sent", 1)}


@committing
@postgres_only
@time_machine.travel(MOMENT, tick=False)
def test_a_sender_dying_before_its_mark_leaves_delivers_nothing_and_the_next_sends_once(
    smtp, monkeypatch, queued_only
):
    with SmtpSink() as sink:
        smtp(sink.port)
        queue("a@example.jp")
        original = claims.PipelinedClaims.mark_sql

        def die(*args, **kwargs):
            raise KeyboardInterrupt  # stands for the process ending between data and mark

        monkeypatch.setattr(claims.PipelinedClaims, "mark_sql", die)
        with pytest.raises(KeyboardInterrupt):
            outbox_send_due()
        monkeypatch.setattr(claims.PipelinedClaims, "mark_sql", original)
        assert sink.wait_for(1, timeout=0.5) is False
        assert states() == {"a@example.jp": ("pending", 0)}

        assert outbox_send_due().sent == 1
        sink.wait_for(1, timeout=5)

    assert sink.count_by_recipient() == {"a@example.jp": 1}


@committing
@postgres_only
@time_machine.travel(MOMENT, tick=False)
def test_a_sender_dying_right_after_its_final_dot_has_sent_it_once(smtp, monkeypatch, queued_only):
    with SmtpSink() as sink:
        smtp(sink.port)
        queue("a@example.jp", "b@example.jp")
        original = sender._Transport.write_final_dot

        def dot_then_die(self):
            original(self)
            # The process ends with the mark's answer unread: the UPDATE and COMMIT had left.
            raise KeyboardInterrupt

        monkeypatch.setattr(sender._Transport, "write_final_dot", dot_then_die)
        with pytest.raises(KeyboardInterrupt):
            outbox_send_due()
        monkeypatch.setattr(sender._Transport, "write_final_dot", original)
        assert sink.wait_for(1, timeout=5)
        first = sink.count_by_recipient()
        assert states()[next(iter(first))] == ("sent", 1)

        assert outbox_send_due().sent == 1
        sink.wait_for(2, timeout=5)

    assert sink.count_by_recipient() == {"a@example.jp": 1, "b@example.jp": 1}
    assert states() == {"a@example.jp": ("sent", 1), "b@example.jp": ("sent", 1)}
