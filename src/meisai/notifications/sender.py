"""The outbox sender: delivers queued emails exactly once, retrying with backoff.

Each message is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` in its own short transaction,
sent, and marked sent before the transaction commits, so two senders never send the same row
and a sender that dies before commit leaves the row pending for the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from dataclasses import dataclass

from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction

from meisai.clock import now
from meisai.notifications.models import OutboxMessage

logger = logging.getLogger(__name__)

#: Retry after 1, 2, 4 … minutes, at most an hour apart; give up after this many attempts.
MAX_ATTEMPTS = 12


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def _claim_one() -> OutboxMessage | None:
    query = OutboxMessage.objects.filter(
        status=OutboxMessage.Status.PENDING, next_attempt_at__lte=now()
    ).order_by("next_attempt_at", "id")
    if connection.features.has_select_for_update_skip_locked:
        query = query.select_for_update(skip_locked=True)
    return query.first()


def _as_email(message: OutboxMessage, mail_connection: object) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        to=[message.to],
        connection=mail_connection,
        # A stable Message-ID lets a receiving system recognise a resend of the same email.
        headers={"Message-ID": f"<{message.key.replace(':', '.')}@meisai>"},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    return email


def outbox_send_due(*, limit: int | None = None) -> SendResult:
    """Send every due message (or ``limit`` of them) over one SMTP connection."""
    result = SendResult()
    mail_connection = get_connection()
    try:
        while limit is None or result.sent + result.failed + result.deferred < limit:
            with transaction.atomic():
                message = _claim_one()
                if message is None:
                    break
                try:
                    _as_email(message, mail_connection).send()
                except (smtplib.SMTPException, OSError) as error:
                    message.attempts += 1
                    message.last_error = f"{type(error).__name__}: {error}"[:500]
                    if message.attempts >= MAX_ATTEMPTS:
                        message.status = OutboxMessage.Status.FAILED
                        result.failed += 1
                    else:
                        message.next_attempt_at = now() + backoff(message.attempts)
                        result.deferred += 1
                    message.save(
                        update_fields=["attempts", "last_error", "status", "next_attempt_at"]
                    )
                    logger.warning(
                        "outbox: message %s deferred: %s", message.pk, message.last_error
                    )
                    # The connection may be broken; stop and let the next run retry.
                    break
                message.status = OutboxMessage.Status.SENT
                message.sent_at = now()
                message.attempts += 1
                message.save(update_fields=["status", "sent_at", "attempts"])
                result.sent += 1
    finally:
        mail_connection.close()
    return result
