"""The Argon2id cost meisai chose for its load (docs/deployment.md, "Password hashing"): new
hashes, legacy hashes wrapped at import, and hashes of an earlier cost moved to it at login."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    PBKDF2PasswordHasher,
    get_hasher,
    identify_hasher,
    make_password,
)

from meisai.accounts.hashers import WRAPPERS, MeisaiArgon2PasswordHasher, legacy_hash_wrap
from meisai.accounts.models import Account
from tests.accounts.conftest import log_in
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
#: OWASP's first equivalent minimum for Argon2id, as Argon2 writes it in a hash.
MEISAI_COST = "m=47104,t=1,p=1"
#: Django 5.2's default, which hashes stored before this choice carry.
DJANGO_DEFAULT_COST = "m=102400,t=2,p=8"


def _cost(encoded: str) -> str:
    """The ``m=…,t=…,p=…`` field of an Argon2 hash, plain or wrapped."""
    return next(field for field in encoded.split("$") if field.startswith("m="))


def test_the_preferred_hasher_is_argon2id_at_meisais_cost():
    hasher = get_hasher("default")
    assert isinstance(hasher, MeisaiArgon2PasswordHasher)
    assert (hasher.memory_cost, hasher.time_cost, hasher.parallelism) == (47104, 1, 1)
    encoded = make_password(PASSWORD)
    assert encoded.startswith("argon2$argon2id$v=19$")
    assert _cost(encoded) == MEISAI_COST


def test_a_hash_of_djangos_default_cost_is_moved_to_meisais_at_the_next_login(client):
    account = AccountFactory(login_id="iwate.taro", email="taro@example.jp")
    account.password = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    account.save(update_fields=["password"])
    assert _cost(account.password) == DJANGO_DEFAULT_COST

    log_in(client, "iwate.taro", PASSWORD, "taro@example.jp")

    assert client.session["_auth_user_id"] == str(account.pk)
    account.refresh_from_db()
    assert account.password.startswith("argon2$argon2id$v=19$")
    assert _cost(account.password) == MEISAI_COST
    assert account.check_password(PASSWORD)


def test_a_wrong_password_leaves_a_hash_of_the_old_cost_as_it_was(client):
    account = AccountFactory(login_id="iwate.taro", email="taro@example.jp")
    account.password = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    account.save(update_fields=["password"])
    before = account.password

    client.post("/login/", {"username": "iwate.taro", "password": "wrong-password"})

    account.refresh_from_db()
    assert account.password == before


@pytest.mark.parametrize("algorithm", sorted(WRAPPERS))
def test_a_wrapped_legacy_hash_has_meisais_cost_for_its_argon2id(algorithm):
    legacy = make_password(PASSWORD, hasher=algorithm)
    wrapped = legacy_hash_wrap(legacy)
    assert wrapped.startswith(f"argon2_{algorithm}$")
    assert _cost(wrapped) == MEISAI_COST
    assert len(wrapped) == WRAPPERS[algorithm].wrapped_length(legacy)
    assert identify_hasher(wrapped).verify(PASSWORD, wrapped)
    assert not identify_hasher(wrapped).verify("wrong-password", wrapped)


def test_a_legacy_hash_wrapped_at_djangos_default_cost_still_logs_in_and_moves(client, monkeypatch):
    # Imported before the cost was chosen: wrapped with Django's default Argon2id cost.
    legacy = PBKDF2PasswordHasher().encode(PASSWORD, "legacysalt2019", 10000)
    with monkeypatch.context() as earlier:
        for name in ("memory_cost", "time_cost", "parallelism"):
            earlier.setattr(MeisaiArgon2PasswordHasher, name, getattr(Argon2PasswordHasher, name))
        wrapped = legacy_hash_wrap(legacy)
    assert _cost(wrapped) == DJANGO_DEFAULT_COST
    account = AccountFactory(login_id="legacy.member", email="legacy@example.jp")
    Account.objects.filter(pk=account.pk).update(password=wrapped)

    log_in(client, "legacy.member", PASSWORD, "legacy@example.jp")

    account.refresh_from_db()
    assert account.password.startswith("argon2$argon2id$v=19$")
    assert _cost(account.password) == MEISAI_COST
