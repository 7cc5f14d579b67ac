"""The outbox sender: delivers queued emails once each, retrying with backoff.

Each message is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` in its own short transaction, so
two senders never take the same row (claims.py: how the claims and marks reach the database).
Its bytes are Django's, with the headers built once per subject (``message_bytes``). Over SMTP
the order of steps makes a dying sender harmless:

1. claim the row; send ``MAIL``, ``RCPT``, ``DATA`` (in one write when the server offers
   PIPELINING) and the whole message *except* the final ``.`` that tells the server to accept it;
2. mark the row sent and send ``COMMIT``, then at once the final ``.`` (on PostgreSQL the
   UPDATE, its COMMIT and the next message's claim in one message, without waiting for their
   answer before the ``.``, and without waiting for the disk: ``claims.MARK_COMMIT``);
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
exponential backoff and go on with the next; 5xx refusals are final, and so is a recipient that
is no address at all (``Unaddressable``: a line break in it, which no form or import lets in), a
message that is never written to any header or server. Problems of the transport
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
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, sanitize_address
from django.db import transaction

from meisai.clock import now
from meisai.core.metrics import mail_sent_count
from meisai.core.progress import progress_report
from meisai.notifications.claims import OrmClaims, PipelinedClaims, claims_for_this_run
from meisai.notifications.models import OutboxMessage
from meisai.notifications.sealing import SealBroken

logger = logging.getLogger(__name__)

#: Retry after 1, 2, 4 … minutes, at most an hour apart; give up after this many attempts.
MAX_ATTEMPTS = 12


class SmtpUnavailable(Exception):
    """The SMTP server cannot be reached or dropped the connection; nothing was marked."""


class Unaddressable(Exception):
    """The recipient is no address an email can be written to (a line break in it, say)."""


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
    """Whether Django would write this message as the skeleton has it: an ASCII address on one
    line, and bodies sent as 8bit (no line longer than SMTP allows, else Django switches to
    quoted-printable), not ASCII (7bit), without the tokens' NUL."""
    if not message.to.isascii() or "\x00" in text + html + message.to:
        return False
    if "\r" in message.to or "\n" in message.to:
        # Never into the header as it is: Django's own building refuses it (BadHeaderError).
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


#: An address Django's ``sanitize_address`` gives back unchanged: an ASCII dot-atom local part
#: and an ASCII domain. Parsing it costs more than a message's other composition, and almost
#: every recipient is of this kind and seen once per run.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\Z"
)


def _envelope_address(address: str) -> str:
    if _PLAIN_ADDRESS.match(address):
        return address
    return _sanitized_address(address)


def _quoted(address: str) -> str:
    """``smtplib.quoteaddr``: the address in angle brackets, parsed again only when not plain."""
    return f"<{address}>" if _PLAIN_ADDRESS.match(address) else smtplib.quoteaddr(address)


@functools.lru_cache(maxsize=1024)
def _sanitized_address(address: str) -> str:
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
        ``SealBroken`` when a sealed body cannot be opened, ``Unaddressable`` when the recipient
        cannot be written as an address."""
        try:
            # The envelope's and the To header's address: asked first, so that an address no
            # form or import would let in neither reaches a header nor stops the run here.
            _envelope_address(message.to)
        except ValueError as error:
            raise Unaddressable(f"invalid recipient address: {error}") from None
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
            recipient = _envelope_address(message.to)
            if smtp.has_extn("pipelining"):
                self._envelope_pipelined(smtp, sender, recipient)
            else:
                self._envelope_in_turn(smtp, sender, recipient)
            data = _LEADING_DOT.sub(b"..", prepared)
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

    def _envelope_in_turn(self, smtp: Any, sender: str, recipient: str) -> None:
        """MAIL, RCPT and DATA, each answered before the next (as smtplib's sendmail)."""
        code, reply = smtp.mail(sender)
        if code != 250:
            self._reset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            self._reset()
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            self._reset()
            raise smtplib.SMTPDataError(code, reply)

    def _envelope_pipelined(self, smtp: Any, sender: str, recipient: str) -> None:
        """MAIL, RCPT and DATA in one write, their three answers read together (RFC 2920
        PIPELINING, which the server offered): one round trip instead of three."""
        smtp.send(f"MAIL FROM:{_quoted(sender)}\r\nRCPT TO:{_quoted(recipient)}\r\nDATA\r\n")
        (mail_code, mail_reply), (rcpt_code, rcpt_reply), (data_code, data_reply) = (
            smtp.getreply(),
            smtp.getreply(),
            smtp.getreply(),
        )
        refusal: smtplib.SMTPException | None = None
        if mail_code != 250:
            refusal = smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
        elif rcpt_code not in (250, 251):
            refusal = smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
        elif data_code != 354:
            refusal = smtplib.SMTPDataError(data_code, data_reply)
        if refusal is None:
            return
        if data_code == 354:
            # A server that opened DATA although it refused the envelope: leaving now, before
            # any data, makes it discard the transaction.
            self.close()
        else:
            self._reset()
        raise refusal

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


def _refused(message: OutboxMessage, error: smtplib.SMTPException) -> list[str]:
    """Defer (4xx) or fail (5xx, or too many attempts) one refused message; the fields to save."""
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:500]
    if _refusal_code(error) >= 500 or message.attempts >= MAX_ATTEMPTS:
        message.status = OutboxMessage.Status.FAILED
        _wipe_when_done(message)
    else:
        message.status = OutboxMessage.Status.PENDING
        message.next_attempt_at = now() + backoff(message.attempts)
    message.sent_at = None
    logger.warning("outbox: message %s %s: %s", message.pk, message.status, message.last_error)
    # A secret body is written either way: wiped when given up, or sealed again when the row
    # was already saved wiped as sent and the server refused the final "." afterwards.
    body = ["stored_text", "stored_html"] if message.secret else []
    return ["attempts", "last_error", "status", "next_attempt_at", "sent_at", *body]


def _unsendable(message: OutboxMessage, error: SealBroken | Unaddressable) -> list[str]:
    """A sealed body no key opens, or an address no email can carry, cannot be sent, now or
    later: fail it for good and wipe it."""
    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:500]
    message.status = OutboxMessage.Status.FAILED
    wiped = _wipe_when_done(message)
    logger.warning("outbox: message %s failed: %s", message.pk, message.last_error)
    return ["attempts", "last_error", "status", *wiped]


def _count(result: SendResult, status: str) -> None:
    if status == OutboxMessage.Status.SENT:
        result.sent += 1
        mail_sent_count()
    elif status == OutboxMessage.Status.FAILED:
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
    claims = claims_for_this_run()
    try:
        with progress_report("メール送信", total=total) as advance:
            message = claims.first() if total else None
            while message is not None:
                done = result.sent + result.failed + result.deferred
                more = limit is None or done + 1 < limit
                status, message = _send_one(message, transport, claims, more)
                _count(result, status)
                advance(1)
    finally:
        try:
            claims.release()
        finally:
            transport.close()
    return result


def _send_one(
    message: OutboxMessage,
    transport: _Transport,
    claims: OrmClaims | PipelinedClaims,
    more: bool,
) -> tuple[str, OutboxMessage | None]:
    """Send one claimed message and settle its row; its outcome and the next claimed row."""
    # The body as stored (sealed when secret), to put back if the row returns to pending after
    # the wipe of the mark.
    stored = (message.stored_text, message.stored_html)
    try:
        prepared = transport.prepare(message)
    except (SealBroken, Unaddressable) as error:
        fields = _unsendable(message, error)
        return message.status, claims.finish(message, fields, None, claim_next=more)
    try:
        transport.begin(message, prepared)
    except smtplib.SMTPException as error:
        fields = _refused(message, error)
        return message.status, claims.finish(message, fields, None, claim_next=more)
    message.status = OutboxMessage.Status.SENT
    message.sent_at = now()
    message.attempts += 1
    fields = ["status", "sent_at", "attempts", *_wipe_when_done(message)]
    try:
        following = claims.finish(
            message,
            fields,
            transport.write_final_dot if transport.speaks_smtp else None,
            claim_next=more,
        )
    except BaseException:
        transport.abandon()
        raise
    try:
        transport.finish()
    except SmtpUnavailable:
        # No answer to the final ".": the server may or may not have taken it. SMTP's rule is
        # to send again (a rare duplicate beats a lost email).
        claims.release()
        OutboxMessage.objects.filter(pk=message.pk).update(
            status=OutboxMessage.Status.PENDING,
            sent_at=None,
            stored_text=stored[0],
            stored_html=stored[1],
        )
        raise
    except smtplib.SMTPException as error:
        # The row already says sent: let go of the next claim, record the refusal in a
        # transaction of its own, and claim again.
        claims.release()
        message.stored_text, message.stored_html = stored
        message.attempts -= 1  # the mark counted this attempt already; _refused counts it
        with transaction.atomic():
            message.save(update_fields=_refused(message, error))
        return message.status, claims.first() if more else None
    return OutboxMessage.Status.SENT, following
