"""The outbox: every email meisai sends is first a row here, written in the transaction that
caused it, then delivered by the sender after commit. ``key`` makes each email exactly-once.

An email that carries a secret (an emailed link or code, SPEC 3.10) is marked ``secret``: its
body is stored sealed (``sealing.py``) while it waits, and replaced by ``WIPED_BODY`` once it has
been sent or given up, so the table never holds a usable link or code. ``body_text`` and
``body_html`` are the bodies as they will be sent — opened on reading — and are what the sender
and the demo outbox read; the back office never reads them for a secret message.
"""

from __future__ import annotations

from django.db import models

from meisai.notifications.sealing import seal, unseal

#: What a secret message's body becomes once it was sent or given up.
WIPED_BODY = "(認証用のURL・確認コードを含むため、本文は送信後に消去しました)"


class OutboxMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "送信待ち"
        SENT = "sent", "送信済"
        FAILED = "failed", "送信失敗"

    key = models.CharField(max_length=200, unique=True, help_text="one email per key, ever")
    template = models.CharField(max_length=100)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    secret = models.BooleanField(
        default=False,
        help_text="carries an emailed link or code: body sealed while due, wiped once sent",
    )
    stored_text = models.TextField(help_text="the text body; sealed or wiped when secret")
    stored_html = models.TextField(
        blank=True, help_text="the HTML body; sealed or wiped when secret"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        # The sender's claim order; ``id`` makes every entry distinct, so PostgreSQL does not
        # merge a publication's million rows of one moment into posting lists, whose dead
        # entries each claim would have to visit again (``claims.claim_query``).
        indexes = [models.Index(fields=["status", "next_attempt_at", "id"])]

    def _stored(self, body: str) -> str:
        return seal(body) if self.secret else body

    @property
    def body_text(self) -> str:
        """The text body as it will be sent (opened if sealed; ``WIPED_BODY`` once wiped)."""
        return unseal(self.stored_text)

    @body_text.setter
    def body_text(self, body: str) -> None:
        self.stored_text = self._stored(body)

    @property
    def body_html(self) -> str:
        return unseal(self.stored_html)

    @body_html.setter
    def body_html(self, body: str) -> None:
        self.stored_html = self._stored(body)

    @property
    def wiped(self) -> bool:
        return self.secret and self.stored_text == WIPED_BODY

    def wipe(self) -> list[str]:
        """Forget a secret message's body; returns the fields to save (none for other mail)."""
        if not self.secret:
            return []
        self.stored_text = WIPED_BODY
        self.stored_html = ""
        return ["stored_text", "stored_html"]
