"""Throttles: how often one client may start a registration, try an identity check, ask for
recovery or fail a login, and how many login IDs one client may fail on and how many clients
may fail on one login ID (SPEC 3.4, 3.5, 3.10).

Hits are rows in the database (``ThrottleHit``) so that every web worker sees the same counts.
The client is the address ``core.clients.client_address`` reads: the connection's
(``REMOTE_ADDR``), or, behind ``MEISAI_TRUSTED_PROXIES`` reverse proxies, the one the outermost
of them saw in ``X-Forwarded-For``. A refused request answers 429 with ``Retry-After`` (``Throttled``) and is
written to the ``meisai.security`` log (``throttle_refused``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Min, Q, QuerySet, Value
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy

from meisai.accounts.login_ids import login_id_key
from meisai.accounts.models import ThrottleHit
from meisai.audit.security_events import security_event
from meisai.clock import now
from meisai.core.compiled_query import CompiledValues
from meisai.core.middleware import path_for_log

#: scope → (requests allowed, per window).
THROTTLES: dict[str, tuple[int, dt.timedelta]] = {
    # Per client address.
    "register_terms": (20, dt.timedelta(hours=1)),
    "register_email": (10, dt.timedelta(hours=1)),
    "register_identity": (20, dt.timedelta(hours=1)),
    "recovery": (10, dt.timedelta(hours=1)),
    # The buttons of emailed links and of step 6: each writes rows for a visitor who holds a
    # link (or a verified registration), never more than a few an hour for one person.
    "link_post": (30, dt.timedelta(hours=1)),
    "login_failure": (100, dt.timedelta(hours=1)),
    # Credential stuffing tries each login ID of a stolen list once, from few addresses: count
    # the distinct IDs that failed from one address. Carrier-grade NAT puts many members behind
    # one mobile address, and a few dozen of them logging in from it within an hour is normal;
    # the ones that mistype are a fraction of those, well under 30 distinct IDs an hour. 30 stops
    # a list after 30 entries an hour instead of the 100 failures ``login_failure`` allows, and
    # an address that reached it may still retry the IDs it already failed on.
    "login_ids_per_client": (30, dt.timedelta(hours=1)),
    # A botnet spreads guesses at one login ID over many addresses, so the per-address counts
    # never fill: count the distinct addresses that failed on one ID. A member fails from home,
    # from work and from a phone whose NAT address changes during the day: a handful a day.
    # From the 10th distinct address within 24 hours only addresses already counted may try the
    # ID (its own lockout after 10 failures in a row stays as it is). Unknown IDs are counted
    # the same way, so the refusal does not tell whether an ID exists.
    "clients_per_login_id": (10, dt.timedelta(hours=24)),
    "staff_login": (60, dt.timedelta(hours=1)),  # staff password posts per address (backoffice)
    # Per account half-way through a login: 「コードを再送する」 sends an email each time, to the
    # member's own address. Five an hour covers a slow mailbox; more would be mail bombing.
    "login_code_resend": (5, dt.timedelta(hours=1)),
}

#: What the code page says when 「コードを再送する」 is used up.
LOGIN_CODE_RESEND_REFUSED = gettext_lazy(
    "確認コードの再送は、しばらく時間をおいてからお試しください。"
    "お送りしたメールが届いている場合は、そのコードを入力してください。"
)

#: Stored scopes of the two distinct-count throttles: the prefix and a keyed digest of what is
#: counted under (the table's scope column is 30 characters; the digests are 24).
_IDS_OF_CLIENT = "ids:"
_CLIENTS_OF_ID = "ips:"


@dataclass(frozen=True)
class Throttled:
    """A refused request: which throttle refused it and how many seconds until it frees a slot
    (the ``Retry-After`` of the 429 answer)."""

    scope: str
    retry_after: int


def _digest(value: str) -> str:
    """A keyed digest: the table then holds neither the IDs typed (sometimes a password typed in
    the wrong field) nor a list that could be matched against a dictionary."""
    return salted_hmac("meisai.accounts.throttles", value, algorithm="sha256").hexdigest()[:24]


def _window_start(scope: str) -> dt.datetime:
    return now() - THROTTLES[scope][1]


def _seconds_until_free(scope: str, oldest: dt.datetime | None) -> int:
    """Seconds until the oldest hit counted leaves the window (at least 1)."""
    if oldest is None:
        return 1
    remaining = (oldest + THROTTLES[scope][1] - now()).total_seconds()
    return max(1, math.ceil(remaining))


def _used_up(*, scope: str, client: str) -> Throttled | None:
    limit, _ = THROTTLES[scope]
    recent = ThrottleHit.objects.filter(scope=scope, client=client, at__gt=_window_start(scope))
    if recent.count() < limit:
        return None
    return Throttled(scope, _seconds_until_free(scope, recent.aggregate(m=Min("at"))["m"]))


def _distinct_used_up(*, scope: str, stored_scope: str, member: str) -> Throttled | None:
    """Whether the distinct count under ``stored_scope`` is full and ``member`` is not among
    what it already counts (what is counted may go on)."""
    limit, _ = THROTTLES[scope]
    recent = ThrottleHit.objects.filter(scope=stored_scope, at__gt=_window_start(scope))
    if recent.filter(client=member).exists():
        return None
    if recent.values("client").distinct().count() < limit:
        return None
    return Throttled(scope, _seconds_until_free(scope, recent.aggregate(m=Min("at"))["m"]))


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


def throttle_count(*, scope: str, client: str, login_id: str | None = None) -> None:
    """Count one request of ``client`` against ``scope`` (a failed login is counted after it
    failed, so a member's right password never uses up the address's allowance).

    With ``login_id`` (a failed login) the pair is counted too, for the two distinct-count
    throttles: the ID among the client's, the client among the ID's, each once per window.
    """
    moment = now()
    ThrottleHit.objects.create(scope=scope, client=client, at=moment)
    if login_id is None:
        return
    id_digest = _digest(login_id_key(login_id))
    pairs = (
        ("login_ids_per_client", _IDS_OF_CLIENT + _digest(client), id_digest),
        ("clients_per_login_id", _CLIENTS_OF_ID + id_digest, client),
    )
    for name, stored_scope, member in pairs:
        window = THROTTLES[name][1]
        ThrottleHit.objects.filter(scope=stored_scope, at__lte=moment - window).delete()
        seen = ThrottleHit.objects.filter(
            scope=stored_scope, client=member, at__gt=moment - window
        ).exists()
        if not seen:
            # Only the first time in the window: its time is when the slot frees.
            ThrottleHit.objects.create(scope=stored_scope, client=member, at=moment)


def login_throttled(*, request: HttpRequest, client: str, login_id: str) -> Throttled | None:
    """Whether a login from ``client`` for ``login_id`` is refused before its password is
    checked (and the refusal logged): the client's failures are used up, or the ID would be one
    distinct ID too many for the client, or the client one address too many for the ID.

    Every login asks, and almost none has failed before: the three counts come from one query
    (``_login_counts``); only a count at its limit reads again, for the refusal's
    ``Retry-After``."""
    id_digest = _digest(login_id_key(login_id))
    ids_scope = _IDS_OF_CLIENT + _digest(client)
    ips_scope = _CLIENTS_OF_ID + id_digest
    counts = _login_counts(
        client=client, id_digest=id_digest, ids_scope=ids_scope, ips_scope=ips_scope
    )
    refused = None
    # In this order, as each refusal names its own throttle.
    if counts["failures"] >= THROTTLES["login_failure"][0]:
        refused = _used_up(scope="login_failure", client=client)
    ids_full = counts["ids"] >= THROTTLES["login_ids_per_client"][0] and not counts["id_seen"]
    if refused is None and ids_full:
        refused = _distinct_used_up(
            scope="login_ids_per_client", stored_scope=ids_scope, member=id_digest
        )
    clients_full = (
        counts["clients"] >= THROTTLES["clients_per_login_id"][0] and not counts["client_seen"]
    )
    if refused is None and clients_full:
        refused = _distinct_used_up(
            scope="clients_per_login_id", stored_scope=ips_scope, member=client
        )
    if refused is not None:
        throttle_refused(request=request, throttled=refused, client=client, login_id=login_id)
    return refused


def _login_counts_of(
    *,
    client: str,
    id_digest: str,
    ids_scope: str,
    ips_scope: str,
    failures_from: dt.datetime,
    ids_from: dt.datetime,
    clients_from: dt.datetime,
) -> QuerySet[Any, Any]:
    failures = Q(scope="login_failure", client=client, at__gt=failures_from)
    ids = Q(scope=ids_scope, at__gt=ids_from)
    clients = Q(scope=ips_scope, at__gt=clients_from)
    return (
        ThrottleHit.objects.filter(failures | ids | clients)
        # A constant to group by is no GROUP BY: one row of counts, as aggregate() gives.
        .annotate(one=Value(1))
        .values("one")
        .annotate(
            failures=Count("pk", filter=failures),
            ids=Count("client", filter=ids, distinct=True),
            id_seen=Count("pk", filter=ids & Q(client=id_digest)),
            clients=Count("client", filter=clients, distinct=True),
            client_seen=Count("pk", filter=clients & Q(client=client)),
        )
    )


#: Every login asks, so its SQL is built once per connection (about 1.6 ms of CPU a login
#: otherwise). The placeholders are values no parameter of the query takes otherwise.
_login_counts_query = CompiledValues(
    _login_counts_of,
    client="\0client",
    id_digest="\0id",
    ids_scope="\0ids",
    ips_scope="\0ips",
    failures_from=dt.datetime(1901, 1, 1, tzinfo=dt.UTC),
    ids_from=dt.datetime(1901, 1, 2, tzinfo=dt.UTC),
    clients_from=dt.datetime(1901, 1, 3, tzinfo=dt.UTC),
)


def _login_counts(*, client: str, id_digest: str, ids_scope: str, ips_scope: str) -> dict[str, int]:
    """The counts of the three login throttles in one query: the client's failures in their
    window, the distinct IDs it failed on and the distinct addresses that failed on the ID (and
    whether this ID, this address, is among them). The same rows ``_used_up`` and
    ``_distinct_used_up`` count, so a count at its limit means they refuse."""
    (counts,) = _login_counts_query(
        client=client,
        id_digest=id_digest,
        ids_scope=ids_scope,
        ips_scope=ips_scope,
        failures_from=_window_start("login_failure"),
        ids_from=_window_start("login_ids_per_client"),
        clients_from=_window_start("clients_per_login_id"),
    )
    del counts["one"]
    return counts


def throttle_refusal(*, scope: str, client: str) -> Throttled:
    """The refusal of a ``throttle_allows`` that said no, with its ``Retry-After``."""
    return _used_up(scope=scope, client=client) or Throttled(scope, 1)


def throttle_refused(
    *, request: HttpRequest, throttled: Throttled, client: str, login_id: str | None = None
) -> None:
    """Write the security event of a refused request: scope, client address, request id and,
    for a login, the login ID typed (never a password: it is not passed here)."""
    security_event(
        "throttled",
        login_id=login_id or "",
        scope=throttled.scope,
        counted_as=client,
        retry_after=throttled.retry_after,
        # The path of an emailed link carries its token: logged masked, as the request log does.
        path=path_for_log(request),
    )


def login_code_resend_refusal(*, request: HttpRequest, account_id: int) -> Throttled | None:
    """Count a 「コードを再送する」 of the account's pending login; the refusal (logged) when the
    account's resends of the hour are used up. Counted per account, not per address: the email
    goes to the account's address whichever browser asks."""
    client = f"account:{account_id}"
    if throttle_allows(scope="login_code_resend", client=client):
        return None
    refused = throttle_refusal(scope="login_code_resend", client=client)
    throttle_refused(request=request, throttled=refused, client=client)
    return refused
