"""Request ids and the request log.

``RequestIdMiddleware`` (first in ``MIDDLEWARE``) gives every request an id — the caller's
``X-Request-ID`` when it is well formed (a proxy or load balancer that already set one), a new
random one otherwise — and reads the client's address (``core.clients``); puts the id on every log line written while serving the request, returns it
in the ``X-Request-ID`` response header, and writes one log line per request with its method,
path (never the query string, and with the single-use token of an emailed link replaced by
``[token]``: a logged link would let a log reader reset a password), status and duration.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from meisai.core.clients import client_address, client_var
from meisai.core.logging import request_id_var

logger = logging.getLogger("meisai.request")

#: Letters, digits, ``-``, ``_`` and ``.``, 8 to 64 of them: UUIDs and the usual proxy ids.
WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
HEADER = "X-Request-ID"


def request_id_for(request: HttpRequest) -> str:
    incoming = request.headers.get(HEADER, "")
    return incoming if WELL_FORMED_ID.match(incoming) else uuid.uuid4().hex


def path_for_log(request: HttpRequest) -> str:
    """The request path with any ``token`` URL argument (emailed links) masked."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    token = match.kwargs.get("token") if match is not None else None
    return path.replace(str(token), "[token]") if token else path


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request)
        token = request_id_var.set(request_id)
        client = client_var.set(client_address(request))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            path = path_for_log(request)
            logger.info(
                "%s %s %s",
                request.method,
                path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            client_var.reset(client)
            request_id_var.reset(token)
