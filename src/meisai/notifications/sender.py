"""The outbox sender: delivers queued emails once each, retrying with backoff.

Each message is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` in its own short transaction, so
two senders never take the same row; a run claims in (next_attempt_at, id) order from where its
last claim was (``_claim_one``). Its bytes are Django's, with the headers built once per subject
(``message_bytes``). Over SMTP the order of steps makes a dying sender harmless:

1. claim the row; send ``MAIL``, ``RCPT``, ``DATA`` and the whole message *except* the final
   ``.`` that tells the server to accept it;
2. mark the row sent and send ``COMMIT``, then at once the final ``.`` (on PostgreSQL the
   UPDATE and the COMMIT in one message, without waiting for their answer before the ``.``,
   and without waiting for the disk: see ``_mark_sent_then``, ``_MARK_COMMIT``);
3. read both answers.

A sender killed before the COMMIT leaves the server with an unfinished message, which SMTP
discards, and the row pending, so the next run sends it once. A sender killed after both writes
leaves a committed row and a finished message: the database executes a COMMIT that arrived
before the connection closed, and the kernel delivers the ``.`` after the process is gone. Only
a kill between those two back-to-back writes can lose a message (it would show as sent). The
naive order (send, then commit) duplicates on a kill anywhere in the SMTP round trip; committing
and waiting for the answer before the ``.`` loses the mail on a kill during that wait (measured:
one lost email in four kill tests on a busy machine, none since). If the server refuses the
message at step 3, the row is put back to pending (or failed) in a new transaction; if the
connection drops before the server answers, the row goes back to pending and is sent again, as
SMTP prescribes (the server may have taken it: the one case that can still duplicate). If the
COMMIT itself fails after the ``.`` left, the row stays pending and the email will go twice.

Problems of one message (the server refuses a recipient or the data) defer that message with
exponential backoff and go on with the next; 5xx refusals are final. Problems of the transport
(server unreachable, connection lost) stop the run with ``SmtpUnavailable`` and leave the
message due untouched: the Celery task retries with backoff, and the scheduler asks again every
minute.

A message that carries a secret (an emailed link or code, SPEC 3.10) is opened only here, to be
sent, and wiped in the same save that marks it sent or failed, so it never stays in the table
in any readable form once it is out. Where the outcome is unknown and the row goes back to
pending, its sealed body goes back with it. The demo outbox (embedded default only) keeps the
sealed body of sent mail, because newcomers read their links and codes there.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import secrets
import smtplib
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, sanitize_address
from django.db import DatabaseError, connection, transaction
from psycopg import ClientCursor, generators, pq, waiting

from meisai.clock import now
from meisai.core.metrics import mail_sent_count
from meisai.core.progress import progress_report
from meisai.notifications.models import OutboxMessage
from meisai.notifications.sealing import SealBroken

logger = logging.getLogger(__name__)

#: Retry after 1, 2, 4 … minutes, at most an hour apart; give up after this many attempts.
MAX_ATTEMPTS = 12


class SmtpUnavailable(Exception):
    """The SMTP server cannot be reached or dropped the connection; nothing was marked."""


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "deferred": self.deferred}


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def outbox_due_count() -> int:
    return OutboxMessage.objects.filter(
        status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now()
    ).count()


#: A claimed row's place in the claim order: (next_attempt_at, id).
Position = tuple[dt.datetime, int]

_CLAIM_SQL = (
    "SELECT * FROM {table} WHERE status = %s AND next_attempt_at <= %s{after}"
    " ORDER BY next_attempt_at, id LIMIT 1{lock}"
)


def _claim_one(after: Position | None = None) -> OutboxMessage | None:
    """The next due row in (next_attempt_at, id) order, locked; after ``after`` if given.

    The order is the outbox's index (status, next_attempt_at, id), so the first due row is
    found without a sort. A run goes on from where its last claim was: rows sent earlier in the
    run leave dead index entries in front of the due ones until VACUUM, and a claim from the
    start would step over all of them each time (a publication queues a million rows with one
    ``next_attempt_at``, so each claim would get slower with every mail sent).
    """
    table = OutboxMessage._meta.db_table
    params: list[Any] = [OutboxMessage.Status.PENDING, now()]
    where = ""
    if after is not None:
        where = " AND (next_attempt_at, id) > (%s, %s)"
        params.extend(after)
    lock = ""
    if connection.features.has_select_for_update_skip_locked:
        lock = " FOR UPDATE SKIP LOCKED"
    query = _CLAIM_SQL.format(table=table, after=where, lock=lock)
    return next(iter(OutboxMessage.objects.raw(query, params)), None)


def _message_id(message: OutboxMessage) -> str:
    # A stable Message-ID lets a receiving system recognise a resend of the same email.
    return f"<{message.key.replace(':', '.')}@meisai>"


def _as_email(message: OutboxMessage) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        to=[message.to],
        headers={"Message-ID": _message_id(message)},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    return email


_NEWLINE = re.compile(r"\r\n|\r|\n")
# The bodies' tokens are not ASCII, as the bodies they stand for: Django marks an all-ASCII
# body 7bit, any other 8bit.
_BODY_TOKENS = ("\x00to\x00", "\x00date\x00", "\x00id\x00", "\x00本文\x00", "\x00本文html\x00")
_BOUNDARY = re.compile(rb'boundary="(=+\d+==)"')


@functools.lru_cache(maxsize=64)
def _skeleton(subject: str, from_email: str, html: bool) -> tuple[bytes, bytes]:
    """Django's message for ``subject`` with tokens for the parts that differ from email to
    email, as bytes, and the boundary Django chose for it. Built once per subject: Python's
    email package spends most of a message's composition on folding and encoding headers."""
    to, date, message_id, text, body_html = _BODY_TOKENS
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=from_email,
        to=[to],
        # In the order Django writes them when it adds the Date itself.
        headers={"Date": date, "Message-ID": message_id},
    )
    if html:
        email.attach_alternative(body_html, "text/html")
    data = email.message().as_bytes(linesep="\r\n")  # type: ignore[call-arg]
    found = _BOUNDARY.search(data)
    return data, found.group(1) if found else b""


def _body_bytes(body: str) -> bytes:
    return _NEWLINE.sub("\r\n", body).encode()


def _fits_skeleton(message: OutboxMessage, text: str, html: str) -> bool:
    """Whether Django would write this message as the skeleton has it: an ASCII address, and
    bodies sent as 8bit (no line longer than SMTP allows, else Django switches to
    quoted-printable), not ASCII (7bit), without the tokens' NUL."""
    if not message.to.isascii() or "\x00" in text + html + message.to:
        return False
    if text.isascii() or (html and html.isascii()):
        return False
    return all(
        len(line.encode()) <= RFC5322_EMAIL_LINE_LENGTH_LIMIT
        for body in (text, html)
        for line in body.splitlines()
    )


def message_bytes(message: OutboxMessage) -> bytes:
    """The message as it goes over SMTP (before dot-stuffing): the bytes Django's
    ``EmailMultiAlternatives`` writes for it (``_as_email``), but with the headers built once per
    subject (``_skeleton``); a message unlike the skeleton is built by Django whole. Raises
    ``SealBroken`` when a sealed body cannot be opened."""
    text, html = message.body_text, message.body_html
    if not _fits_skeleton(message, text, html):
        return _as_email(message).message().as_bytes(linesep="\r\n")  # type: ignore[call-arg]
    skeleton, boundary = _skeleton(message.subject, settings.DEFAULT_FROM_EMAIL, bool(html))
    values = dict(
        zip(
            [token.encode() for token in _BODY_TOKENS],
            [
                message.to.encode(),
                formatdate(localtime=settings.EMAIL_USE_LOCALTIME).encode(),
                _message_id(message).encode(),
                _body_bytes(text),
                _body_bytes(html),
            ],
            strict=True,
        )
    )
    if boundary:
        # A fresh boundary per message, as Django's would be, that no body contains.
        bodies = values[_BODY_TOKENS[3].encode()] + values[_BODY_TOKENS[4].encode()]
        while True:
            fresh = f"{'=' * 15}{secrets.randbelow(sys.maxsize):019d}==".encode()
            if fresh not in bodies:
                break
        values[boundary] = fresh
    return re.sub(b"|".join(re.escape(key) for key in values), lambda m: values[m[0]], skeleton)


_LEADING_DOT = re.compile(rb"(?m)^\.")


@functools.lru_cache(maxsize=1024)
def _envelope_address(address: str) -> str:
    return sanitize_address(address, settings.DEFAULT_CHARSET)


class _Transport:
    """Django's configured mail backend, split into ``begin`` (everything but the final
    commitment) and ``finish`` when it speaks SMTP; other backends (console, file, locmem)
    deliver in ``begin`` and have nothing to finish."""

    def __init__(self) -> None:
        self.backend: Any = get_connection()
        self.smtp: smtplib.SMTP | None = None
        self.dot_written = False

    def prepare(self, message: OutboxMessage) -> EmailMultiAlternatives | bytes:
        """What ``begin`` sends: the bytes over SMTP, else the email for the backend. Raises
        ``SealBroken`` when a sealed body cannot be opened."""
        if isinstance(self.backend, SmtpBackend):
            return message_bytes(message)
        return _as_email(message)

    def begin(self, message: OutboxMessage, prepared: EmailMultiAlternatives | bytes) -> None:
        if isinstance(prepared, EmailMultiAlternatives):
            prepared.connection = self.backend
            prepared.send()
            return
        try:
            if self.smtp is None:
                self.backend.open()
                self.smtp = self.backend.connection
                # The final "." goes out as a tiny write of its own after the commit; without
                # TCP_NODELAY, Nagle's algorithm holds it for the peer's delayed ACK (~40 ms).
                sock = getattr(self.smtp, "sock", None)
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp: Any = self.smtp
            smtp.ehlo_or_helo_if_needed()
            sender = _envelope_address(settings.DEFAULT_FROM_EMAIL)
            recipients = [_envelope_address(message.to)]
            data = prepared
            code, reply = smtp.mail(sender)
            if code != 250:
                self._reset()
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            refused = {}
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = (code, reply)
            if refused:
                self._reset()
                raise smtplib.SMTPRecipientsRefused(refused)
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                self._reset()
                raise smtplib.SMTPDataError(code, reply)
            data = _LEADING_DOT.sub(b"..", data)
            if not data.endswith(b"\r\n"):
                data += b"\r\n"
            smtp.send(data)
        except smtplib.SMTPResponseException as error:
            if error.smtp_code == 421:
                self.close()
                raise SmtpUnavailable(str(error)) from error
            raise
        except smtplib.SMTPRecipientsRefused:
            raise
        except OSError as error:
            self.close()
            raise SmtpUnavailable(f"{type(error).__name__}: {error}") from error

    @property
    def speaks_smtp(self) -> bool:
        return self.smtp is not None

    def write_final_dot(self) -> None:
        """Hand SMTP's end-of-data to the kernel; the reply is read by ``finish``."""
        if self.smtp is None:
            return
        try:
            self.smtp.send(b".\r\n")
        except OSError as error:
            self.close()
            raise SmtpUnavailable(f"{type(error).__name__}: {error}") from error
        self.dot_written = True

    def finish(self) -> None:
        if self.smtp is None:
            return
        try:
            if not self.dot_written:
                self.smtp.send(b".\r\n")
            self.dot_written = False
            code, reply = self.smtp.getreply()
        except OSError as error:
            self.close()
            raise SmtpUnavailable(f"{type(error).__name__}: {error}") from error
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

    def abandon(self) -> None:
        """Drop a half-sent message: closing the connection mid-DATA makes the server discard it."""
        self.dot_written = False
        self.close()

    def _reset(self) -> None:
        if self.smtp is not None:
            self.smtp.rset()

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None
                self.backend.connection = None
        elif not isinstance(self.backend, SmtpBackend):
            self.backend.close()


#: Sent after the mark's UPDATE, in the same message, so the mark is durable on the server's
#: side without waiting for the WAL to reach the disk: a sender killed afterwards loses nothing
#: (the commit is done in the server's memory), and only a crash of PostgreSQL itself within
#: about three ``wal_writer_delay`` of it can forget the mark of a mail that went out, which is
#: then sent again — a duplicate, never a lost email (docs/deployment.md, "The sender and
#: durability"). Waiting for the disk once per mail held the sender to the disk's rate of
#: flushes. ``SET LOCAL``: this transaction only.
_MARK_COMMIT = "SET LOCAL synchronous_commit TO off; COMMIT"


def _mark_sql(message: OutboxMessage, fields: list[str], raw: Any) -> bytes:
    """The UPDATE that ``message.save(update_fields=fields)`` would run, as one literal
    statement, followed by ``_MARK_COMMIT``."""
    assignments = []
    params: list[Any] = []
    for name in fields:
        field: Any = OutboxMessage._meta.get_field(name)
        assignments.append(f"{connection.ops.quote_name(field.column)} = %s")
        params.append(field.get_db_prep_save(getattr(message, field.attname), connection))
    params.append(message.pk)
    update = (
        f"UPDATE {OutboxMessage._meta.db_table} SET {', '.join(assignments)}"  # noqa: S608
        " WHERE id = %s"
    )
    return f"{ClientCursor(raw).mogrify(update, params)}; {_MARK_COMMIT}".encode()


def _mark_sent_then(
    message: OutboxMessage, fields: list[str], final_write: Callable[[], None] | None
) -> None:
    """Save ``fields`` of ``message`` and commit, so that ``final_write`` (the final ``.``; None
    when the backend does not speak SMTP) follows the COMMIT without a wait.

    On PostgreSQL, at the outermost transaction, the UPDATE and the COMMIT go out as one message,
    then at once the final write, and only then is the server's answer read: one round trip for
    the mark, and a sender killed at any moment after both writes leaves a committed row and a
    finished message (the server still executes what arrived before the connection closed).
    Waiting for the answer before the final write would leave the round trip and the wake-up of
    a busy machine in between — the window in which a kill loses the email. Elsewhere (SQLite:
    an in-process commit; inside a caller's or a test's atomic block, whose transaction is not
    ours to end) the row is saved, Django's atomic commits, and ``finish`` writes the ``.``.
    If the server refuses the UPDATE after the ``.`` left, the row stays pending and the email
    goes twice, as when the COMMIT fails.
    """
    if (
        final_write is None
        or connection.vendor != "postgresql"
        or len(connection.atomic_blocks) != 1
    ):
        message.save(update_fields=fields)
        return
    raw: Any = connection.connection
    pgconn = raw.pgconn
    pgconn.send_query(_mark_sql(message, fields, raw))
    waiting.wait(generators.send(pgconn), pgconn.socket)
    final_write()
    results = waiting.wait(generators.fetch_many(pgconn), pgconn.socket)
    failed = [r for r in results if r.status != pq.ExecStatus.COMMAND_OK]
    if failed:
        raise DatabaseError(failed[0].error_message.decode(errors="replace"))
    # Django's atomic block then finds the transaction already committed: its commit is a no-op.


def _wipe_when_done(message: OutboxMessage) -> list[str]:
    """Wipe a secret message that is done with (sent or given up); the fields to save.

    The demo outbox shows sent mail to newcomers, so there the sealed body stays (it is still
    encrypted at rest); production has no demo outbox and always wipes.
    """
    if settings.MEISAI_DEMO_OUTBOX:
        return []
    return message.wipe()


def _refusal_code(error: smtplib.SMTPException) -> int:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return min(code for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code
    return 0


def _record_refusal(message: OutboxMessage, error: smtplib.SMTPException) -> str:
    """Defer (4xx) or fail (5xx, or too many attempts) one refused message; return the new state."""
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:500]
    if _refusal_code(error) >= 500 or message.attempts >= MAX_ATTEMPTS:
        message.status = OutboxMessage.Status.FAILED
        _wipe_when_done(message)
    else:
        message.status = OutboxMessage.Status.PENDING
        message.next_attempt_at = now() + backoff(message.attempts)
    message.sent_at = None
    # A secret body is written either way: wiped when given up, or sealed again when the row
    # was already saved wiped as sent and the server refused the final "." afterwards.
    body = ["stored_text", "stored_html"] if message.secret else []
    message.save(
        update_fields=["attempts", "last_error", "status", "next_attempt_at", "sent_at", *body]
    )
    logger.warning("outbox: message %s %s: %s", message.pk, message.status, message.last_error)
    return message.status


def _record_unopenable(message: OutboxMessage, error: SealBroken) -> str:
    """A sealed body no key opens cannot be sent, now or later: fail it for good and wipe it."""
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:500]
    message.status = OutboxMessage.Status.FAILED
    wiped = _wipe_when_done(message)
    message.save(update_fields=["attempts", "last_error", "status", *wiped])
    logger.warning("outbox: message %s failed: %s", message.pk, message.last_error)
    return message.status


def _count(result: SendResult, status: str) -> None:
    if status == OutboxMessage.Status.FAILED:
        result.failed += 1
    else:
        result.deferred += 1


def outbox_send_due(*, limit: int | None = None) -> SendResult:
    """Send every due message (or ``limit`` of them) over one SMTP connection.

    Raises ``SmtpUnavailable`` when the server cannot be reached; what was sent before stays sent.
    """
    result = SendResult()
    transport = _Transport()
    due = outbox_due_count()
    total = due if limit is None else min(due, limit)
    position: Position | None = None
    try:
        with progress_report("メール送信", total=total) as advance:
            while limit is None or result.sent + result.failed + result.deferred < limit:
                begun = False
                try:
                    with transaction.atomic():
                        message = _claim_one(position)
                        if message is None and position is not None:
                            # Back to the start once: rows another sender held or put back.
                            position = None
                            message = _claim_one()
                        if message is None:
                            break
                        position = (message.next_attempt_at, message.pk)
                        # The body as stored (sealed when secret), to put back if the row
                        # returns to pending after the wipe below.
                        stored = (message.stored_text, message.stored_html)
                        try:
                            prepared = transport.prepare(message)
                        except SealBroken as error:
                            _count(result, _record_unopenable(message, error))
                            advance(1)
                            continue
                        try:
                            transport.begin(message, prepared)
                        except smtplib.SMTPException as error:
                            _count(result, _record_refusal(message, error))
                            advance(1)
                            continue
                        begun = True
                        message.status = OutboxMessage.Status.SENT
                        message.sent_at = now()
                        message.attempts += 1
                        wiped = _wipe_when_done(message)
                        _mark_sent_then(
                            message,
                            ["status", "sent_at", "attempts", *wiped],
                            transport.write_final_dot if transport.speaks_smtp else None,
                        )
                except BaseException:
                    if begun:
                        transport.abandon()
                    raise
                try:
                    transport.finish()
                except SmtpUnavailable:
                    # No answer to the final ".": the server may or may not have taken it.
                    # SMTP's rule is to send again (a rare duplicate beats a lost email).
                    with transaction.atomic():
                        OutboxMessage.objects.filter(pk=message.pk).update(
                            status=OutboxMessage.Status.PENDING,
                            sent_at=None,
                            stored_text=stored[0],
                            stored_html=stored[1],
                        )
                    raise
                except smtplib.SMTPException as error:
                    message.stored_text, message.stored_html = stored
                    with transaction.atomic():
                        _count(result, _record_refusal(message, error))
                    advance(1)
                    continue
                result.sent += 1
                mail_sent_count()
                advance(1)
    finally:
        transport.close()
    return result
