"""The outbox: every email meisai sends is first a row here, written in the transaction that
caused it, then delivered by the sender after commit. ``key`` makes each email exactly-once."""

from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "送信待ち"
        SENT = "sent", "送信済"
        FAILED = "failed", "送信失敗"

    key = models.CharField(max_length=200, unique=True, help_text="one email per key, ever")
    template = models.CharField(max_length=100)
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
