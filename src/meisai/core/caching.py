"""``Cache-Control: no-store`` on every answer that belongs to one browser (SPEC 3.10).

``accounts.middleware.SessionLimitMiddleware`` marks the answers to a logged-in browser (and to
one half-way through login). Two more kinds of answer show a person's data without a login:

* a browser half-way through registration: its session names the registration, and step 6
  shows the card's last four digits, the email address, the login ID and the personal message;
* the page of an emailed link (any route with a ``token`` argument, as ``core.middleware``
  masks it in the log): the email-change confirmation shows the new address, the reset and
  registration pages are that person's.

A shared computer's browser cache or back button must keep none of them. So this middleware
adds ``no-store`` to every answer to a logged-in account, to a browser whose session holds
anything, and on an emailed link's page. A visitor's plain pages (the login page, the terms)
stay cacheable, and static files are answered by WhiteNoise before this middleware runs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers


def belongs_to_one_browser(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    session = getattr(request, "session", None)
    if session is not None and list(session.keys()):
        return True
    match = getattr(request, "resolver_match", None)
    return match is not None and "token" in match.kwargs


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if "no-store" not in response.get("Cache-Control", "") and belongs_to_one_browser(request):
            add_never_cache_headers(response)
        return response
