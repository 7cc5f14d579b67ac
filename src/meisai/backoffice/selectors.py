"""Reads of the back office: the figures of the operator dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from meisai.accounts.models import Account
from meisai.core.models import Job
from meisai.imports.models import ImportBatch
from meisai.members.models import Member
from meisai.notifications.models import OutboxMessage
from meisai.statements.models import MonthClose


@dataclass(frozen=True)
class Dashboard:
    members: int
    active_members: int
    web_accounts: int
    outbox_pending: int
    outbox_failed: int
    imports: list[ImportBatch]
    closes: list[MonthClose]
    jobs: list[Job]


def dashboard_figures() -> Dashboard:
    members = Member.objects.aggregate(
        total=Count("id"), active=Count("id", filter=Q(status=Member.Status.ACTIVE))
    )
    outbox = OutboxMessage.objects.aggregate(
        pending=Count("id", filter=Q(status=OutboxMessage.Status.PENDING)),
        failed=Count("id", filter=Q(status=OutboxMessage.Status.FAILED)),
    )
    return Dashboard(
        members=members["total"],
        active_members=members["active"],
        web_accounts=Account.objects.filter(is_active=True, member__isnull=False).count(),
        outbox_pending=outbox["pending"],
        outbox_failed=outbox["failed"],
        imports=list(ImportBatch.objects.order_by("-started_at", "-id")[:5]),
        closes=list(MonthClose.objects.order_by("-billing_month")[:3]),
        jobs=list(Job.objects.order_by("-queued_at", "-id")[:10]),
    )
