"""会員情報誌 (member magazine) issues uploaded by operators, and the issuer's on/off switch."""

from __future__ import annotations

from django.db import models


class MagazineSettings(models.Model):
    """A single row: whether members may see magazines (off by default, as in the flyer)."""

    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)


class MagazineIssue(models.Model):
    title = models.CharField(max_length=200)
    month = models.CharField(max_length=7, help_text="YYYY-MM")
    pdf = models.FileField(upload_to="magazines/")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-month", "-id"]
