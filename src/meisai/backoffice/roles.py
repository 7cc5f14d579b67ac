"""The issuer's staff roles (SPEC 2), in one place.

* **operator** — answers members' calls and runs the month: finds and serves members, runs
  imports, the close, publication and exports;
* **auditor** — reads everything, changes nothing: the buttons are absent, not refused;
* **administrator** — manages staff, campaigns, products and magazines.

A staff member is an ``accounts.Account`` with ``is_staff``, no member, and exactly one of the
groups named after the roles (a superuser counts as an administrator). Cardholders are never
staff. The groups and their admin permissions are the back office's migrations.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Role(StrEnum):
    OPERATOR = "operator"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    Role.OPERATOR: "オペレーター",
    Role.AUDITOR: "監査担当",
    Role.ADMINISTRATOR: "管理者",
}

#: Roles that may change something (the auditor may not).
ACTING = frozenset({Role.OPERATOR, Role.ADMINISTRATOR})


def staff_role(user: Any) -> Role | None:
    """The role of a signed-in staff member, or None for anyone else (a cardholder, a visitor,
    a disabled staff account, a staff account without a role)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active or not user.is_staff:
        return None
    if getattr(user, "member_id", None) is not None:
        return None
    if user.is_superuser:
        return Role.ADMINISTRATOR
    names = set(user.groups.values_list("name", flat=True))
    for role in (Role.ADMINISTRATOR, Role.OPERATOR, Role.AUDITOR):
        if role.value in names:
            return role
    return None
