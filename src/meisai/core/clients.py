"""The client a request comes from: the address every throttle counts under, and that security
events, audit rows and logs name (SPEC 3.10).

``RequestIdMiddleware`` reads it once per request into ``client_var``, so services that record
a security event need not be handed the request.
"""

from __future__ import annotations

import contextvars
import ipaddress

from django.conf import settings
from django.http import HttpRequest

#: The client of the request being served, ``-`` outside a request (a command, a task).
client_var: contextvars.ContextVar[str] = contextvars.ContextVar("client", default="-")

#: Throttle and event rows keep 64 characters; an IP address is at most 45.
CLIENT_LENGTH = 64


def client_address(request: HttpRequest) -> str:
    """The address a request is counted (and logged and audited) under.

    With ``MEISAI_TRUSTED_PROXIES`` = N > 0, each of the N proxies appends the address it was
    connected from to ``X-Forwarded-For``, so the Nth entry from the right is the one the
    outermost proxy saw: the client. Entries further left were written by the client and prove
    nothing. When the header has fewer than N entries, or that entry is not an IP address, the
    request did not come through every proxy as configured; it is counted under the connection's
    address (a proxy's, shared with others), never under anything the client could choose.
    With 0 the header is ignored: without a proxy, any client could write it.
    """
    connection = str(request.META.get("REMOTE_ADDR") or "unknown")[:CLIENT_LENGTH]
    proxies = int(getattr(settings, "MEISAI_TRUSTED_PROXIES", 0))
    if proxies <= 0:
        return connection
    # Several headers of the same name arrive joined by commas, in order.
    entries = [e.strip() for e in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    entries = [e for e in entries if e]
    if len(entries) < proxies:
        return connection
    try:
        # Normalised, so that one IPv6 address written two ways counts once.
        return str(ipaddress.ip_address(entries[-proxies]))
    except ValueError:
        return connection
