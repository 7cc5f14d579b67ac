"""Throttles behind the TLS proxy (SPEC 3.4, 3.5, 3.10): which address a request is counted
under, the 429 answer with ``Retry-After`` and its security event, and the two distinct-count
limits against credential stuffing; one client's failures never lock out another client."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.test import RequestFactory

from meisai.accounts import login, throttles
from meisai.core.clients import client_address
from tests.accounts.conftest import outbox
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
PROXY = "10.0.0.1"
ATTACKER = "203.0.113.7"
MEMBER = "198.51.100.20"


@pytest.fixture
def account(db):
    return AccountFactory(login_id="iwate.taro", email="taro@example.jp")


@pytest.fixture
def behind_proxy(settings):
    """One TLS proxy in front of the web node: it connects from PROXY and appends the address
    it was connected from to X-Forwarded-For."""
    settings.MEISAI_TRUSTED_PROXIES = 1


def via_proxy(client_ip: str, forged: str = "") -> dict[str, str]:
    """The request META of a client behind the proxy (``forged``: what the client itself wrote
    into X-Forwarded-For before the proxy appended its address)."""
    header = f"{forged}, {client_ip}" if forged else client_ip
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": header}


def _address(settings, proxies: int, **meta: str) -> str:
    settings.MEISAI_TRUSTED_PROXIES = proxies
    return client_address(RequestFactory().get("/", **meta))


def test_client_address_is_the_nth_from_the_right_of_x_forwarded_for(settings):
    meta = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "192.0.2.99, 203.0.113.7, 10.0.0.2"}
    # Without proxies the header is anybody's to write: ignored.
    assert _address(settings, 0, **meta) == PROXY
    assert _address(settings, 1, **meta) == "10.0.0.2"
    assert _address(settings, 2, **meta) == "203.0.113.7"
    # Fewer entries than proxies: not through every proxy; the connection's address, never one
    # the client chose.
    assert _address(settings, 4, **meta) == PROXY
    assert _address(settings, 1, REMOTE_ADDR=PROXY) == PROXY
    assert _address(settings, 1, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="not-an-ip") == PROXY
    # One IPv6 address written two ways is one client.
    assert _address(settings, 1, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="2001:DB8:0::1") == (
        "2001:db8::1"
    )


def test_one_client_failing_100_times_does_not_lock_out_another_behind_the_proxy(
    client, account, behind_proxy
):
    for n in range(160):
        # Many IDs; the attacker also forges the member's address on the left of the header.
        client.post(
            "/login/",
            {"username": f"guess.{n % 40:04d}", "password": "x"},
            **via_proxy(ATTACKER, forged=MEMBER),
        )
    # Another client behind the same proxy logs into an account nobody attacked, as always …
    response = client.post(
        "/login/", {"username": "iwate.taro", "password": PASSWORD}, **via_proxy(MEMBER)
    )
    assert response.status_code == 302 and response.url == "/login/code/"
    assert len(outbox("taro@example.jp", "login_code")) == 1
    # … while the attacker's 100 failures are used up.
    again = client.post(
        "/login/", {"username": "guess.0001", "password": "x"}, **via_proxy(ATTACKER)
    )
    assert again.status_code == 429


def test_a_throttled_login_gets_429_with_retry_after_before_the_hasher(
    client, account, monkeypatch, frozen, caplog
):
    monkeypatch.setitem(throttles.THROTTLES, "login_failure", (3, dt.timedelta(hours=1)))
    for n in range(3):
        client.post(
            "/login/", {"username": f"guess.{n:04d}", "password": "x"}, REMOTE_ADDR="192.0.2.5"
        )
    frozen.shift(dt.timedelta(minutes=10))

    def no_hasher(*args, **kwargs):
        raise AssertionError("the password was checked for a throttled login")

    monkeypatch.setattr(login.auth, "authenticate", no_hasher)
    with caplog.at_level(logging.WARNING, logger="meisai.security"):
        page = client.post(
            "/login/", {"username": "iwate.taro", "password": PASSWORD}, REMOTE_ADDR="192.0.2.5"
        )
    assert page.status_code == 429
    # The oldest failure leaves the hour 50 minutes from now.
    assert page["Retry-After"] == str(50 * 60)
    assert "しばらくお待ちください" in page.content.decode()
    assert outbox("taro@example.jp") == []
    (event,) = [r for r in caplog.records if getattr(r, "event", None) == "throttled"]
    assert (event.scope, event.client, event.login_id) == (
        "login_failure",
        "192.0.2.5",
        "iwate.taro",
    )
    assert event.request_id == page["X-Request-ID"]
    assert PASSWORD not in str(vars(event))


def test_distinct_login_ids_per_client_address_are_limited(client, account, frozen, caplog):
    limit, window = throttles.THROTTLES["login_ids_per_client"]
    assert (limit, window) == (30, dt.timedelta(hours=1))
    for n in range(limit):
        refused = client.post(
            "/login/", {"username": f"list.{n:04d}", "password": "x"}, REMOTE_ADDR="192.0.2.5"
        )
        assert refused.status_code == 200
    frozen.shift(dt.timedelta(minutes=20))
    with caplog.at_level(logging.WARNING, logger="meisai.security"):
        stuffed = client.post(
            "/login/", {"username": "iwate.taro", "password": PASSWORD}, REMOTE_ADDR="192.0.2.5"
        )
    assert stuffed.status_code == 429
    assert stuffed["Retry-After"] == str(40 * 60)
    assert [r.scope for r in caplog.records if getattr(r, "event", None) == "throttled"] == [
        "login_ids_per_client"
    ]
    # An ID the address already failed on may be retried (a member mistyping again) …
    again = client.post(
        "/login/", {"username": "LIST.0003", "password": "x"}, REMOTE_ADDR="192.0.2.5"
    )
    assert again.status_code == 200
    # … and another address is not affected.
    other = client.post(
        "/login/", {"username": "iwate.taro", "password": PASSWORD}, REMOTE_ADDR="192.0.2.6"
    )
    assert other.url == "/login/code/"
    # The window frees the slot of the first ID.
    frozen.shift(dt.timedelta(minutes=41))
    later = client.post(
        "/login/", {"username": "iwate.taro", "password": PASSWORD}, REMOTE_ADDR="192.0.2.5"
    )
    assert later.url == "/login/code/"


def test_distinct_client_addresses_per_login_id_are_limited(client, account, frozen):
    limit, window = throttles.THROTTLES["clients_per_login_id"]
    assert (limit, window) == (10, dt.timedelta(hours=24))
    # A botnet spreads guesses at one ID over many addresses. The ID is unknown: the answer
    # must be the same as for a member's, or the throttle would tell which IDs exist.
    for n in range(limit):
        client.post("/login/", {"username": "nobody.here", "password": "x"}, **_at(n))
    assert (
        client.post(
            "/login/", {"username": "nobody.here", "password": "x"}, **_at(limit)
        ).status_code
        == 429
    )
    # An address already counted is answered as before (django-axes locks the ID after 10) …
    assert (
        client.post("/login/", {"username": "nobody.here", "password": "x"}, **_at(0)).status_code
        == 200
    )
    # … and the new address logs into an account nobody attacked.
    response = client.post(
        "/login/", {"username": "iwate.taro", "password": PASSWORD}, **_at(limit)
    )
    assert response.url == "/login/code/"


def _at(n: int) -> dict[str, str]:
    return {"REMOTE_ADDR": f"192.0.2.{100 + n}"}


def test_other_throttles_answer_429_with_retry_after_per_client_behind_the_proxy(
    client, account, behind_proxy, frozen, caplog
):
    for _ in range(10):
        client.post("/login/forgot-id/", {"email": "nobody@example.jp"}, **via_proxy(ATTACKER))
    frozen.shift(dt.timedelta(minutes=15))
    with caplog.at_level(logging.WARNING, logger="meisai.security"):
        refused = client.post(
            "/login/forgot-id/", {"email": "taro@example.jp"}, **via_proxy(ATTACKER)
        )
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(45 * 60)
    (event,) = [r for r in caplog.records if getattr(r, "event", None) == "throttled"]
    assert (event.scope, event.client, event.path) == ("recovery", ATTACKER, "/login/forgot-id/")
    assert outbox("taro@example.jp") == []
    # The member behind the same proxy has an allowance of their own.
    allowed = client.post("/login/forgot-id/", {"email": "taro@example.jp"}, **via_proxy(MEMBER))
    assert allowed.status_code == 200
    assert len(outbox("taro@example.jp", "login_id_reminder")) == 1


def test_the_registration_link_token_stays_out_of_the_security_event(client, db, caplog):
    path = "/register/identity/not-a-real-token/"
    for _ in range(20):
        client.post(path, {}, REMOTE_ADDR="203.0.113.9")
    with caplog.at_level(logging.WARNING, logger="meisai.security"):
        refused = client.post(path, {}, REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    (event,) = [r for r in caplog.records if getattr(r, "event", None) == "throttled"]
    assert event.scope == "register_identity"
    assert "not-a-real-token" not in str(vars(event))


def test_the_login_counts_compiled_once_agree_with_the_orms_aggregate(frozen):
    """The three login counts come from SQL built once per connection (``CompiledValues``):
    for hits inside, outside and exactly at each window's edge, of this client, this ID and
    others, they are what the ORM's aggregate of the same filters counts."""
    from django.db.models import Count, Q

    from meisai.accounts.models import ThrottleHit
    from meisai.clock import now

    client, other = "192.0.2.1", "192.0.2.2"
    id_digest = throttles._digest("iwate.taro")
    ids_scope = throttles._IDS_OF_CLIENT + throttles._digest(client)
    ips_scope = throttles._CLIENTS_OF_ID + id_digest
    moment = now()
    hour, day = dt.timedelta(hours=1), dt.timedelta(hours=24)
    rows = [
        ("login_failure", client, moment - dt.timedelta(minutes=5)),
        ("login_failure", client, moment - hour),  # exactly at the edge: outside
        ("login_failure", client, moment - hour + dt.timedelta(seconds=1)),
        ("login_failure", other, moment),
        (ids_scope, id_digest, moment - dt.timedelta(minutes=1)),
        (ids_scope, "another-id", moment - dt.timedelta(minutes=2)),
        (ids_scope, "another-id", moment - dt.timedelta(minutes=3)),
        (ids_scope, "an-old-id", moment - 2 * hour),
        (ips_scope, other, moment - 23 * hour),
        (ips_scope, "192.0.2.3", moment - day),  # at the edge: outside
    ]
    ThrottleHit.objects.bulk_create(
        ThrottleHit(scope=scope, client=who, at=at) for scope, who, at in rows
    )

    found = []
    for asked_client, asked_id in ((client, id_digest), (other, "no-such-id")):
        failures = Q(scope="login_failure", client=asked_client, at__gt=moment - hour)
        ids = Q(scope=ids_scope, at__gt=moment - hour)
        clients = Q(scope=ips_scope, at__gt=moment - day)
        expected = ThrottleHit.objects.filter(failures | ids | clients).aggregate(
            failures=Count("pk", filter=failures),
            ids=Count("client", filter=ids, distinct=True),
            id_seen=Count("pk", filter=ids & Q(client=asked_id)),
            clients=Count("client", filter=clients, distinct=True),
            client_seen=Count("pk", filter=clients & Q(client=asked_client)),
        )

        counts = throttles._login_counts(
            client=asked_client, id_digest=asked_id, ids_scope=ids_scope, ips_scope=ips_scope
        )

        assert counts == expected
        found.append(counts)
    assert found == [
        {"failures": 2, "ids": 2, "id_seen": 1, "clients": 1, "client_seen": 0},
        {"failures": 1, "ids": 2, "id_seen": 0, "clients": 1, "client_seen": 1},
    ]
