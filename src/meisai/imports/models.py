"""Import batches: one row for every file the core system sent, whatever became of it."""

from __future__ import annotations

from django.db import models


class ImportBatch(models.Model):
    class Kind(models.TextChoices):
        PRODUCTS = "products", "商品"
        MEMBERS = "members", "会員"
        ENROLLMENTS = "enrollments", "本人認証サービス"
        USAGE = "usage", "ご利用明細"
        POINTS = "points", "ポイント残高"
        BALANCES = "balances", "分割・リボ残高"

    class Status(models.TextChoices):
        RUNNING = "running", "実行中"
        DONE = "done", "完了"
        FAILED = "failed", "失敗"
        UNCHANGED = "unchanged", "取込済(変更なし)"
        DRY_RUN = "dry_run", "試行(保存なし)"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    encoding = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    rows = models.PositiveIntegerField(default=0)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.TextField(blank=True, help_text="the first problems, one per line")
    actor = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "file_sha256"])]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "file_sha256"],
                condition=models.Q(status="done"),
                name="file_imported_once",
            )
        ]
