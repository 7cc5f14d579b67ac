"""What a member's login and logout cost in queries on the confirmation day, when every member
logs in once: no read or write that the login does not need (the member's row, the session's
row before it is written, django-axes' access log)."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt, AccessLog
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meisai.accounts.models import AccountSession
from meisai.audit.models import SecurityEvent
from tests.accounts.conftest import FACTORY_PASSWORD, code_in, outbox
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

#: The session store's own queries (the database backend of the tests; Redis in production).
SESSION_TABLE = '"django_session"'


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


def _table(sql: str) -> str:
    match = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', sql)
    return match.group(1) if match else "?"


def _queries(request) -> list[str]:
    """Each query of one request as its verb and table, the session store's left out."""
    with CaptureQueriesContext(connection) as captured:
        response = request()
    assert response.status_code == 302
    return [
        f"{query['sql'].split()[0]} {_table(query['sql'])}"
        for query in captured.captured_queries
        if SESSION_TABLE not in query["sql"]
    ]


def _remembered(client) -> None:
    """Log in once from a new browser (with the emailed code), so the browser is remembered."""
    client.post("/login/", {"username": "iwate.taro", "password": FACTORY_PASSWORD})
    code = code_in(outbox("taro@example.jp", "login_code")[0])
    client.post("/login/code/", {"code": code})
    client.post("/logout/")


def test_a_login_from_a_remembered_browser_reads_and_writes_only_what_it_needs(client):
    AccountFactory(login_id="iwate.taro", email="taro@example.jp")
    _remembered(client)

    queries = _queries(
        lambda: client.post("/login/", {"username": "iwate.taro", "password": FACTORY_PASSWORD})
    )

    # The member's row is not read (the event names it by id), the session's row is inserted
    # without being looked for (a login always has a new session key), and axes logs nothing.
    assert "SELECT members_member" not in queries
    assert "SELECT accounts_accountsession" not in queries
    writes = [q for q in queries if q.split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    assert writes == [
        "UPDATE accounts_rememberedbrowser",
        "UPDATE accounts_accounttoken",
        "UPDATE accounts_account",
        "INSERT accounts_accountsession",
        "INSERT audit_securityevent",
    ]
    assert AccountSession.objects.count() == 2
    assert SecurityEvent.objects.filter(kind="login").count() == 2


def test_logins_and_logouts_write_no_access_log_of_django_axes(client):
    AccountFactory(login_id="iwate.taro", email="taro@example.jp")
    _remembered(client)
    client.post("/login/", {"username": "iwate.taro", "password": FACTORY_PASSWORD})

    logout = _queries(lambda: client.post("/logout/"))

    # Logins are security events already; axes' own log of them was two more writes a visit.
    assert AccessLog.objects.count() == 0
    assert "UPDATE axes_accesslog" not in logout


def test_a_code_login_names_the_member_by_id(client):
    AccountFactory(login_id="iwate.taro", email="taro@example.jp")
    client.post("/login/", {"username": "iwate.taro", "password": FACTORY_PASSWORD})
    code = code_in(outbox("taro@example.jp", "login_code")[0])

    queries = _queries(lambda: client.post("/login/code/", {"code": code}))

    assert "SELECT members_member" not in queries
    assert "SELECT accounts_accountsession" not in queries
    assert SecurityEvent.objects.filter(kind="login").count() == 1


def test_a_login_that_never_failed_asks_the_throttles_and_django_axes_once_each(client):
    AccountFactory(login_id="iwate.taro", email="taro@example.jp")
    _remembered(client)

    login = _queries(
        lambda: client.post("/login/", {"username": "iwate.taro", "password": FACTORY_PASSWORD})
    )
    logout = _queries(lambda: client.post("/logout/"))

    # The three login throttles count in one query; axes' lockout check is its only read (no
    # clean-up of expired attempts, no reset of attempts it has just found none of).
    assert login.count("SELECT accounts_throttlehit") == 1
    assert login.count("SELECT axes_accessattempt") == 1
    assert not [q for q in logout if "axes_" in q]
    reads = [q for q in login if q.startswith("SELECT")]
    assert reads == [
        "SELECT accounts_throttlehit",
        "SELECT accounts_registration",
        "SELECT axes_accessattempt",
        "SELECT accounts_account",
    ]


def test_a_login_after_failures_still_resets_the_login_ids_failures(client):
    AccountFactory(login_id="iwate.taro", email="taro@example.jp")
    _remembered(client)
    for _ in range(3):
        client.post("/login/", {"username": "iwate.taro", "password": "wrong-password-1"})
    assert AccessAttempt.objects.get().failures_since_start == 3

    client.post("/login/", {"username": "Iwate.Taro", "password": FACTORY_PASSWORD})

    assert not AccessAttempt.objects.exists()
