"""Four eyes (ASVS 2.3.5): work that one staff member asks for and another carries out.

An ``ApprovalRequest`` records what is asked (its kind and arguments, what the approver is shown),
who asked and why, who decided and when, and the job that carried it out. The database holds the
rule itself: whoever decides a request is not the one who made it (``approval_four_eyes``), and
one thing (a month to publish, a file to import) has at most one request waiting
(``approval_one_pending``). The service is ``meisai.backoffice.approvals``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApprovalRequest(models.Model):
    class Kind(models.TextChoices):
        PUBLISH = "publish", "明細の公開"
        REIMPORT = "reimport", "取込済の月への再取込"
        APPEND = "append", "取込済の月への追加取込(--append)"

    class State(models.TextChoices):
        PENDING = "pending", "承認待ち"
        APPROVED = "approved", "承認済(実行待ち)"
        REFUSED = "refused", "却下"
        DONE = "done", "実行済"
        FAILED = "failed", "失敗"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    #: What the request is about, for ``approval_one_pending``: the month, or the file's SHA-256.
    subject = models.CharField(max_length=100)
    #: What runs when it is approved (the month; the stored file, its kind and encoding).
    args = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    #: The approver's or refuser's words.
    decision_note = models.TextField(blank=True)
    job = models.ForeignKey(
        "core.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    #: The figures of the execution (statements published, rows imported …).
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True)
                | ~models.Q(decided_by=models.F("requested_by")),
                name="approval_four_eyes",
            ),
            models.UniqueConstraint(
                fields=["kind", "subject"],
                condition=models.Q(state="pending"),
                name="approval_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject} #{self.pk} ({self.get_state_display()})"
