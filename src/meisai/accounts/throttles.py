"""Per-address throttles: how often one client address may start a registration, try an
identity check, ask for recovery or fail a login (SPEC 3.4, 3.5).

Hits are rows in the database (``ThrottleHit``) so that every web worker sees the same counts.
The client address is ``REMOTE_ADDR``; behind a proxy the proxy must set it, or every member
would share one throttle.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest

from meisai.accounts.models import ThrottleHit
from meisai.clock import now

#: scope → (requests allowed, per window) for one client address.
THROTTLES: dict[str, tuple[int, dt.timedelta]] = {
    "register_email": (10, dt.timedelta(hours=1)),
    "register_identity": (20, dt.timedelta(hours=1)),
    "recovery": (10, dt.timedelta(hours=1)),
    "login_failure": (100, dt.timedelta(hours=1)),
}


def client_address(request: HttpRequest) -> str:
    """The address a request is counted under."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def throttle_allows(*, scope: str, client: str) -> bool:
    """Whether ``client`` may do ``scope`` now; counts the request when it may."""
    limit, window = THROTTLES[scope]
    moment = now()
    # Hits older than the window count for nothing any more; drop them as we go.
    ThrottleHit.objects.filter(scope=scope, client=client, at__lte=moment - window).delete()
    recent = ThrottleHit.objects.filter(scope=scope, client=client, at__gt=moment - window)
    if recent.count() >= limit:
        return False
    ThrottleHit.objects.create(scope=scope, client=client, at=moment)
    return True


def throttle_exceeded(*, scope: str, client: str) -> bool:
    """Whether ``client`` has used up ``scope`` (without counting this request)."""
    limit, window = THROTTLES[scope]
    return (
        ThrottleHit.objects.filter(scope=scope, client=client, at__gt=now() - window).count()
        >= limit
    )


def throttle_count(*, scope: str, client: str) -> None:
    """Count one request of ``client`` against ``scope`` (a failed login is counted after it
    failed, so a member's right password never uses up the address's allowance)."""
    ThrottleHit.objects.create(scope=scope, client=client, at=now())
