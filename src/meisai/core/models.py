"""Job records: the state of every piece of background work (send, close, publish, import, PDF).

A job is written when the work is asked for (queued), updated when a worker takes it (running),
while it runs (counts, the same numbers the progress bar shows) and when it ends (done or
failed, with the error). Operators read them in the back office and can ask for the same work
again: every task is safe to run twice.
"""

from __future__ import annotations

from django.db import models


class Job(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "待機中"
        RUNNING = "running", "実行中"
        DONE = "done", "完了"
        FAILED = "failed", "失敗"

    kind = models.CharField(max_length=40, db_index=True)
    args = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    actor = models.CharField(max_length=150, blank=True)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    done = models.PositiveBigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["status", "queued_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.get_status_display()})"
