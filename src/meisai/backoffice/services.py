"""Writing the audit trail. Callers write the entry in the same transaction as the action."""

from __future__ import annotations

from typing import Any

from meisai.backoffice.models import AuditEntry
from meisai.clock import now
from meisai.members.models import Member


def audit_record(
    *,
    actor: str,
    action: str,
    member: Member | None = None,
    detail: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        at=now(),
        actor=actor,
        action=action,
        member=member,
        detail=detail or {},
        client_ip=client_ip,
    )
