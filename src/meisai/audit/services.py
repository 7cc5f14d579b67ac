"""Writing the audit trail. Every service that changes state calls ``audit_record`` inside its
own transaction, so the change and its record commit or roll back together."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meisai.audit.models import AuditEntry
from meisai.clock import now

if TYPE_CHECKING:
    from meisai.members.models import Member


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file as hex: how audit rows name the exact file an action read or wrote."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
