"""What a locked-out login sees: exactly what a wrong password gets (SPEC 3.5).

django-axes calls this when a login ID is locked. The login view has already rendered its
generic answer ("ID or password not correct"); returning it unchanged means an attacker cannot
tell a locked ID from a wrong password or an unknown ID. The member learns of the lock by email
(``meisai.accounts.login.account_lockout_notify``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from meisai.accounts.login_ids import login_id_key


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    if original_response is not None:
        return original_response
    return redirect("accounts:login")


def lockout_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The login ID axes counts failures for: normalised and lower-cased, as login IDs are
    unique without regard to case and width."""
    raw = (credentials or {}).get("username") or request.POST.get("username")
    return login_id_key(str(raw)) if raw else None
