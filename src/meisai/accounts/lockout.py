"""What a locked-out login sees: exactly what a wrong password gets (SPEC 3.5).

django-axes calls this when a login ID is locked. The login view has already rendered its
generic answer ("ID or password not correct"); returning it unchanged means an attacker cannot
tell a locked ID from a wrong password or an unknown ID. The member learns of the lock by email
(``account_lockout_notify``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    if original_response is not None:
        return original_response
    return redirect("accounts:login")
