"""The sender on PostgreSQL as it runs in production, outside any transaction: the mark of one
message and the claim of the next go to the server as one message (notifications/claims.py),
and the SMTP envelope goes as one write when the server offers PIPELINING. Each email still
goes out once, a refusal still defers or fails only its own message, and a run never ends
holding a claim."""

from __future__ import annotations

import datetime as dt
import smtplib
import threading

import pytest
import time_machine
from bench.smtp_sink import SmtpSink
from django.core.mail.message import sanitize_address
from django.db import connection, connections

from meisai.clock import JST
from meisai.notifications import sender
from meisai.notifications.claims import PipelinedClaims
from meisai.notifications.models import OutboxMessage
from meisai.notifications.sender import _PLAIN_ADDRESS, _envelope_address, outbox_send_due
from tests.production.outbox import queue, states

MOMENT = dt.datetime(2025, 6, 13, 9, 0, tzinfo=JST)

committing = pytest.mark.django_db(transaction=True)
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the pipelined claims are PostgreSQL's"
)


def _transaction_state() -> str:
    """The sender's session as the server sees it: ``idle``, or ``idle in transaction`` when a
    claim was left open."""
    pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", [pid])
            return cursor.fetchone()[0]
    finally:
        other.close()


@pytest.mark.parametrize(
    "address",
    [
        "a@example.jp",
        "p000012345@example.jp",
        "a.b-c+d@mail.example.co.jp",
        "o'neil@example.jp",
        "A{b}|c@EXAMPLE.JP",
        "a..b@example.jp",
        "太郎@example.jp",
        "a@例え.jp",
        "a b@example.jp",
        "Name <a@b.jp>",
    ],
)
def test_an_address_taken_as_plain_is_what_django_and_smtplib_would_write(address):
    if _PLAIN_ADDRESS.match(address):
        assert sanitize_address(address, "utf-8") == address
        assert smtplib.quoteaddr(address) == f"<{address}>"
    assert _envelope_address(address) == sanitize_address(address, "utf-8")
    assert sender._quoted(address) == smtplib.quoteaddr(address)


@committing
@postgres_only
@time_machine.travel(MOMENT, tick=False)
def test_refusals_in_the_middle_of_a_run_settle_their_own_rows(smtp, queued_only):
    refuse = {"busy@example.jp": "450 mailbox busy", "gone@example.jp": "550 no such user"}
    with SmtpSink(refuse=refuse) as sink:
        smtp(sink.port)
        queue("a@example.jp", "busy@example.jp", "b@example.jp", "gone@example.jp", "c@example.jp")
        assert PipelinedClaims.usable()

        result = outbox_send_due()
        state = _transaction_state()

    assert (result.sent, result.failed, result.deferred) == (3, 1, 1)
    assert state == "idle"
    assert sink.count_by_recipient() == {"a@example.jp": 1, "b@example.jp": 1, "c@example.jp": 1}
    assert states() == {
        "a@example.jp": ("sent", 1),
        "busy@example.jp": ("pending", 1),
        "b@example.jp": ("sent", 1),
        "gone@example.jp": ("failed", 1),
        "c@example.jp": ("sent", 1),
    }
    busy = OutboxMessage.objects.get(to="busy@example.jp")
    assert busy.next_attempt_at == MOMENT + dt.timedelta(minutes=1)
    assert busy.last_error == "SMTPRecipientsRefused: {'busy@example.jp': (450, b'mailbox busy')}"


@committing
@postgres_only
@time_machine.travel(MOMENT, tick=False)
def test_a_limited_run_sends_its_share_and_holds_no_claim_afterwards(smtp, queued_only):
    with SmtpSink() as sink:
        smtp(sink.port)
        queue(*(f"m{i}@example.jp" for i in range(5)))

        assert outbox_send_due(limit=2).sent == 2
        assert _transaction_state() == "idle"
        assert outbox_send_due().sent == 3

    assert sink.count_by_recipient() == {f"m{i}@example.jp": 1 for i in range(5)}


@committing
@postgres_only
@time_machine.travel(MOMENT, tick=False)
def test_a_refused_final_dot_mid_run_defers_that_message_and_the_rest_goes_out(
    smtp, queued_only, monkeypatch
):
    original = sender._Transport.finish
    calls = {"n": 0}

    def second_refused(self):
        calls["n"] += 1
        original(self)
        if calls["n"] == 2:
            raise smtplib.SMTPDataError(451, b"try later")

    monkeypatch.setattr(sender._Transport, "finish", second_refused)
    with SmtpSink() as sink:
        smtp(sink.port)
        queue("a@example.jp", "b@example.jp", "c@example.jp")

        result = outbox_send_due()
        state = _transaction_state()

    assert (result.sent, result.deferred) == (2, 1)
    assert state == "idle"
    assert states() == {
        "a@example.jp": ("sent", 1),
        "b@example.jp": ("pending", 1),
        "c@example.jp": ("sent", 1),
    }


@committing
@postgres_only
@time_machine.travel(MOMENT, tick=False)
def test_two_senders_at_once_send_each_email_once(smtp, queued_only):
    addresses = [f"m{i:03}@example.jp" for i in range(120)]
    with SmtpSink() as sink:
        smtp(sink.port)
        queue(*addresses)
        results: list[int] = []

        def run() -> None:
            try:
                results.append(outbox_send_due().sent)
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        sink.wait_for(120, timeout=5)

    assert sum(results) == 120
    assert sink.count_by_recipient() == {address: 1 for address in addresses}
    assert set(states().values()) == {("sent", 1)}
