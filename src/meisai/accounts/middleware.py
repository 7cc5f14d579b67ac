"""Request-level guards of the member site.

* ``AuthenticationMiddleware``: Django's, with ``request.user`` served from the account cache
  (``meisai.accounts.account_cache``) when the session verifies against it.
* ``MaintenanceMiddleware``: registration and login answer 503 with Retry-After during a
  maintenance window.
* ``SessionLimitMiddleware``: a session ends 12 hours after login whatever the activity, and
  after ``SESSION_COOKIE_AGE`` (15 minutes) without a request. The idle expiry is pushed forward
  by saving the session at most once a minute, not on every request: a save per page view was
  most of the cost of a logged-in page on the 13th. So a session ends between 14 and 15 minutes
  after the last request. Every answer
  to a logged-in browser, or one half-way through login, carries ``Cache-Control: no-store`` so
  a shared computer's back button or cache shows nothing of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.contrib.auth import logout
from django.contrib.auth.middleware import (
    AuthenticationMiddleware as DjangoAuthenticationMiddleware,
)
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.functional import SimpleLazyObject

from meisai.accounts.account_cache import request_account
from meisai.accounts.maintenance import maintenance_window_at, retry_after_seconds
from meisai.clock import jst, now

#: Paths that close during maintenance.
MAINTENANCE_PREFIXES = ("/register/", "/login/")
#: The absolute limit of a session (SPEC 3.10 idle limit is in settings).
SESSION_ABSOLUTE_LIMIT = dt.timedelta(hours=12)
#: Session key holding the login time (epoch seconds).
LOGIN_AT_KEY = "meisai_login_at"
#: Session key of the last time the idle expiry was pushed forward (epoch seconds).
SEEN_AT_KEY = "meisai_seen_at"
#: How often a busy session is saved to push its idle expiry forward.
IDLE_REFRESH_EVERY = dt.timedelta(minutes=1)
#: Session key of a login waiting for its one-time code.
PENDING_LOGIN_KEY = "meisai_pending_login"


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        # Replaces Django's lazy user (the lazy object loads it once per request).
        request.user = SimpleLazyObject(lambda: request_account(request))  # type: ignore[assignment]


class MaintenanceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(MAINTENANCE_PREFIXES):
            moment = now()
            window = maintenance_window_at(moment)
            if window is not None:
                start, end = window
                response = render(
                    request,
                    "accounts/maintenance.html",
                    {"start": jst(start), "end": jst(end)},
                    status=503,
                )
                response["Retry-After"] = str(retry_after_seconds(moment, end))
                add_never_cache_headers(response)
                return response
        return self.get_response(request)


class SessionLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            # A session logged in some other way (the admin, a test's force_login) starts its
            # 12 hours now.
            login_at = request.session.setdefault(LOGIN_AT_KEY, now().timestamp())
            if now().timestamp() - login_at > SESSION_ABSOLUTE_LIMIT.total_seconds():
                staff = user.is_staff
                logout(request)
                # Staff sign in again at the console's login, members at theirs.
                expired = redirect("backoffice:login" if staff else "accounts:login")
                add_never_cache_headers(expired)
                return expired
        response: HttpResponse = self.get_response(request)
        _refresh_idle_expiry(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or PENDING_LOGIN_KEY in getattr(
            request, "session", {}
        ):
            add_never_cache_headers(response)
        return response


def _refresh_idle_expiry(request: HttpRequest) -> None:
    """Mark a live session modified once a minute so its expiry moves 15 minutes ahead."""
    session = getattr(request, "session", None)
    if session is None or session.is_empty():
        return
    moment = now().timestamp()
    if (
        session.modified
        or moment - session.get(SEEN_AT_KEY, 0) >= IDLE_REFRESH_EVERY.total_seconds()
    ):
        session[SEEN_AT_KEY] = moment
