"""Times every request into ``meisai_http_request_duration_seconds`` under its route's name.

Second in ``MIDDLEWARE``, after the request id: the time covers every other middleware, the view
and answers given without a view (the HTTPS redirect, static files, the maintenance page). The
route is the URL pattern's name (``statements:detail``), so a month, a token or a member number
in the path never becomes a label; static files are ``static``, a path no pattern matches
``unmatched``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from meisai.core.metrics import request_observe


def route_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        # Every meisai and admin route has a name; the pattern is the bounded fallback.
        return match.view_name or match.route or "unnamed"
    if request.path.startswith(settings.STATIC_URL):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        request_observe(
            route=route_name(request),
            method=request.method or "",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response
