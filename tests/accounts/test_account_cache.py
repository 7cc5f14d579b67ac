"""The logged-in account comes from the cache (accounts.account_cache), and every change that
must end a session still ends it on the very next request: deactivation, a new password, a
deleted account, a logout, a rotated SECRET_KEY."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from meisai.accounts.account_cache import account_cache_forget
from meisai.accounts.models import Account
from tests.accounts.conftest import FACTORY_PASSWORD
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

PAGE = "/account/"
LOGIN = f"/login/?next={PAGE}"


@pytest.fixture(autouse=True)
def _account_cache_on(settings) -> None:
    # On in production (Redis); the tests' per-process cache stands in for it.
    settings.MEISAI_ACCOUNT_CACHE = True
    # Account ids are reused between tests on SQLite; so would their cache entries be.
    cache.clear()


@pytest.fixture
def account() -> Account:
    return AccountFactory(login_id="hanamaki.yuki", email="yuki@example.jp")


@pytest.fixture
def member_client(client: Client, account: Account) -> Client:
    client.force_login(account)
    # The first request reads the account from the database and caches it.
    assert client.get(PAGE).status_code == 200
    return client


def _account_queries(client: Client, path: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(path).status_code
    return status, [q["sql"] for q in queries if "accounts_account" in q["sql"]]


def test_a_logged_in_request_does_not_read_the_account_row(member_client):
    status, account_queries = _account_queries(member_client, PAGE)

    assert status == 200
    assert account_queries == []


def test_without_a_shared_cache_every_request_reads_the_account(member_client, settings):
    settings.MEISAI_ACCOUNT_CACHE = False

    status, account_queries = _account_queries(member_client, PAGE)

    assert status == 200
    assert len(account_queries) == 1


def test_the_cached_account_still_checks_the_current_password(member_client, account):
    # The password hash is not cached: the form's check loads it from the database.
    response = member_client.post(
        "/account/password/",
        {
            "current_password": "wrong-password-1",
            "password": "ichinoseki-2025-haru",
            "password_confirm": "ichinoseki-2025-haru",
        },
    )
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.check_password("correct-horse-battery")


def test_deactivated_account_is_logged_out_at_once(member_client, account):
    account.is_active = False
    account.save(update_fields=["is_active"])

    assert member_client.get(PAGE).url == LOGIN


def test_new_password_ends_sessions_made_with_the_old_one(member_client, account):
    # Even without the explicit end of the account's sessions, the session's password hash
    # no longer matches (Django's rule), cached or not.
    account.set_password("ichinoseki-2025-haru")
    account.save(update_fields=["password"])

    assert member_client.get(PAGE).url == LOGIN


def test_change_written_with_queryset_update_takes_effect_after_forget(member_client, account):
    Account.objects.filter(pk=account.pk).update(is_active=False)
    account_cache_forget(account.pk)

    assert member_client.get(PAGE).url == LOGIN


def test_deleted_account_is_logged_out_at_once(member_client, account):
    account.delete()

    assert member_client.get(PAGE).url == LOGIN


def test_personal_message_change_shows_on_the_next_page(member_client, account):
    assert member_client.post(
        "/account/message/",
        {"personal_message": "北上展勝地", "current_password": FACTORY_PASSWORD},
    ).url == ("/account/")

    assert "北上展勝地" in member_client.get(PAGE).content.decode()


def test_logged_out_session_cookie_no_longer_works(member_client):
    old_cookie = member_client.cookies["sessionid"].value
    member_client.post("/logout/")

    replay = Client()
    replay.cookies["sessionid"] = old_cookie
    assert replay.get(PAGE).url == LOGIN


def test_rotated_secret_key_upgrades_the_session_as_django_does(member_client, settings):
    # A new SECRET_KEY with the old one as fallback: Django re-signs the session's password hash
    # on the next request, so the session outlives the fallback's removal. A cached hash made
    # with the old key must not skip that step.
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-for-the-rotation-test-0123456789abcdef"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert member_client.get(PAGE).status_code == 200

    settings.SECRET_KEY_FALLBACKS = []
    assert member_client.get(PAGE).status_code == 200


def test_rotated_secret_key_without_fallback_ends_sessions(member_client, settings):
    settings.SECRET_KEY = "another-secret-key-for-the-rotation-test-0123456789abcdef"

    assert member_client.get(PAGE).url == LOGIN
