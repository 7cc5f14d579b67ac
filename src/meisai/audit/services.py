"""Writing the audit trail. Every service that changes state calls ``audit_record`` inside its
own transaction, so the change and its record commit or roll back together."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meisai.audit.models import AuditEntry
from meisai.clock import now

if TYPE_CHECKING:
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
