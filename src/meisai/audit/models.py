"""The audit trail: one row for every state change and every staff read of a member's data.

The ground floor of the house: every domain writes here (through ``audit_record``, in the same
transaction as the change it records) and nothing here imports a domain. The member is named by
the string ``"members.Member"`` so that this module needs no import of the members app.

Rows are append-only, enforced in the database (``meisai.audit.triggers``), not only by the
pages that show them.
"""

from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    at = models.DateTimeField(db_index=True)
    #: Who acted: a staff login, a member's login ID, or a process ("scheduler", "cli:<user>").
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=100)
    member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "監査ログ"
        verbose_name_plural = "監査ログ"


class SecurityEvent(models.Model):
    """One security event about a member's account (SPEC 3.10): a login or a failed one, a
    lockout, a reset, a change of credentials or address, a registration failure or lock, a
    re-registration, a view or download of a statement. Written by ``security_event`` together
    with its JSON log line, and shown to staff on the member's page. Never holds a card number,
    a password, a link or a code."""

    at = models.DateTimeField()
    kind = models.CharField(max_length=40)
    member = models.ForeignKey(
        "members.Member", on_delete=models.PROTECT, related_name="security_events"
    )
    login_id = models.CharField(max_length=20, blank=True)
    client = models.CharField(max_length=64)
    request_id = models.CharField(max_length=64)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["member", "at"])]
        verbose_name = "セキュリティイベント"
        verbose_name_plural = "セキュリティイベント"
