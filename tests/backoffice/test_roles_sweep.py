"""Every route of the staff console against each role (SPEC 2): the table below says which
roles may use each one, a new route fails until it is in the table, and each role gets exactly
what the table says — the page or the action for the allowed roles, 403 for the others.
Visitors and cardholders are swept for every route in tests/security/test_url_sweeps.py."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from meisai.backoffice.models import ApprovalRequest
from meisai.backoffice.roles import ACTING, Role
from meisai.clock import now
from meisai.core.jobs import job_create
from tests.backoffice.conftest import signed_in, staff_account
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

EVERYONE = frozenset(Role)
READERS = frozenset({Role.AUDITOR, Role.ADMINISTRATOR})

#: route name → (method, the roles that may use it).
ACCESS: dict[str, tuple[str, frozenset[Role]]] = {
    "backoffice:dashboard": ("GET", EVERYONE),
    "backoffice:member_search": ("GET", EVERYONE),
    "backoffice:member_detail": ("GET", EVERYONE),
    "backoffice:member_action": ("POST", ACTING),
    "backoffice:month": ("GET", EVERYONE),
    "backoffice:month_upload": ("POST", ACTING),
    "backoffice:month_job": ("GET", EVERYONE),
    "backoffice:month_import": ("POST", ACTING),
    "backoffice:month_reimport": ("POST", ACTING),
    "backoffice:month_close": ("POST", ACTING),
    "backoffice:month_publish": ("POST", ACTING),
    "backoffice:month_approval": ("GET", EVERYONE),
    "backoffice:month_grant": ("POST", ACTING),
    "backoffice:month_refuse": ("POST", ACTING),
    "backoffice:month_export": ("POST", ACTING),
    # The trail checks the operators' work: theirs to be read by others (SPEC 2).
    "backoffice:audit_trail": ("GET", READERS),
    "backoffice:audit_trail_csv": ("GET", READERS),
}
#: Routes for anyone on the way in or out, with the reason.
SIGN_IN = {
    "backoffice:login": "the password step, for visitors",
    "backoffice:login_code": "the code step, for a visitor whose password passed",
    "backoffice:logout": "ends whatever session asks",
}


def _console_routes() -> set[str]:
    (console,) = [
        p
        for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and p.namespace == "backoffice"
    ]
    return {f"backoffice:{p.name}" for p in console.url_patterns if isinstance(p, URLPattern)}


def test_every_console_route_is_in_the_table():
    routes = _console_routes()
    assert routes - ACCESS.keys() - SIGN_IN.keys() == set(), "add the new routes to ACCESS"
    assert (ACCESS.keys() | SIGN_IN.keys()) - routes == set(), "entries for routes that are gone"


def _path(name: str, member_no: str, job_pk: int, approval_pk: int) -> str:
    if name in ("backoffice:member_detail",):
        return reverse(name, args=[member_no])
    if name == "backoffice:member_action":
        return reverse(name, args=[member_no, "sessions_end"])
    if name in ("backoffice:month_job", "backoffice:month_import", "backoffice:month_reimport"):
        return reverse(name, args=[job_pk])
    if name in ("backoffice:month_approval", "backoffice:month_grant", "backoffice:month_refuse"):
        return reverse(name, args=[approval_pk])
    return reverse(name)


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_each_role_gets_what_the_table_says(role):
    member = MemberFactory()
    job = job_create(kind="import", args={"kind": "usage", "path": "/nowhere.csv"})
    requester = staff_account(Role.OPERATOR, login_id="op-requester")
    approval = ApprovalRequest.objects.create(
        kind=ApprovalRequest.Kind.PUBLISH,
        subject="2025年4月請求分の公開",
        args={"month": "2025-04"},
        requested_by=requester,
        requested_at=now(),
    )
    client = signed_in(staff_account(role))
    wrong: list[str] = []
    for name, (method, allowed) in ACCESS.items():
        path = _path(name, member.member_no, job.pk, approval.pk)
        response = client.get(path) if method == "GET" else client.post(path, {})
        refused = response.status_code == 403
        if refused == (role in allowed):
            wrong.append(f"{role.value} {method} {path}: {response.status_code}")
        if response.status_code >= 500:
            wrong.append(f"{role.value} {method} {path}: {response.status_code}")
    assert wrong == []
