"""The logged-in account of a request, from the cache instead of the database.

Every logged-in request needs its account: Django's ``get_user`` loads the row by the id in the
session and checks the session's hash of the password against it. On the 13th that query (and
the connection health check in front of it) was most of the cost of a cached statement page. So
the few things that check needs are kept in the cache (Redis in production):

* the account's fields **without the password hash** (a hash in Redis could be cracked offline;
  reading ``account.password`` on a cached account loads it from the database), and
* the session hash Django would compute from the password, which every session of the account
  already holds.

Staleness is what matters here: a deactivated account, a new password or a logout must take
effect on the next request. Each account has a *generation* token in the cache; an entry counts
only while it carries the current token. Saving or deleting an account replaces the token at once
and again when the transaction commits, so a request that read the old row before the commit
cannot store it under the new token. A missing token (evicted, Redis restarted) is replaced by a
new one, which no old entry carries. Entries also expire after ``ENTRY_SECONDS`` as a backstop.
Changes that bypass ``save()`` (``QuerySet.update()``, raw SQL) must call ``account_cache_forget``.

Only where every process shares the cache (``settings.MEISAI_ACCOUNT_CACHE``, on with Redis): a
per-process cache could not see a change made by another process, so without Redis every
request reads the account from the database as Django does.

The cached path only ever *accepts* a session: anything unusual — an unknown backend, a session
hash that does not match (an old password, a rotated ``SECRET_KEY``), an inactive account — goes
to Django's own ``get_user``, which logs the session out or upgrades it as usual. The
``SECRET_KEY`` is part of the cache key, so rotating it never finds hashes made with the old one.
"""

from __future__ import annotations

import functools
import secrets
from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, router, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac

from meisai.accounts.models import Account

#: Raise when the cached shape changes (fields added to ``Account`` are picked up by themselves).
ENTRY_VERSION = 1
#: How long an entry may be served without being read again from the database.
ENTRY_SECONDS = 5 * 60
#: Generation tokens outlive the entries they validate.
GENERATION_SECONDS = 24 * 60 * 60


@functools.cache
def _key_prefix(secret_key: str) -> str:
    # A digest of the secret, never the secret: a new SECRET_KEY starts with an empty cache.
    digest = salted_hmac("meisai.accounts.account_cache", "prefix", secret=secret_key).hexdigest()
    return f"account:v{ENTRY_VERSION}:{digest[:12]}"


def _keys(account_id: object) -> tuple[str, str]:
    prefix = _key_prefix(settings.SECRET_KEY)
    return f"{prefix}:{account_id}", f"{prefix}:{account_id}:generation"


@functools.cache
def _cached_fields() -> tuple[str, ...]:
    return tuple(
        field.attname for field in Account._meta.concrete_fields if field.attname != "password"
    )


def _entry(account: Account, generation: str) -> dict[str, Any]:
    fields = _cached_fields()
    return {
        "generation": generation,
        "fields": fields,
        "values": tuple(getattr(account, name) for name in fields),
        "session_hash": account.get_session_auth_hash(),
    }


def _account_from(entry: dict[str, Any]) -> Account:
    """An ``Account`` as if loaded with ``.defer("password")``."""
    db = router.db_for_read(Account) or DEFAULT_DB_ALIAS
    return Account.from_db(db, list(entry["fields"]), list(entry["values"]))


def account_cache_forget(account_id: object) -> None:
    """Make every cached copy of the account stale: now, and again when the transaction commits."""
    if not settings.MEISAI_ACCOUNT_CACHE:
        return
    _, generation_key = _keys(account_id)

    def renew() -> None:
        cache.set(generation_key, secrets.token_hex(8), timeout=GENERATION_SECONDS)

    renew()
    transaction.on_commit(renew)


@receiver(post_save, sender=Account, dispatch_uid="account_cache_forget_saved")
@receiver(post_delete, sender=Account, dispatch_uid="account_cache_forget_deleted")
def _account_changed(sender: type[Account], instance: Account, **kwargs: Any) -> None:
    account_cache_forget(instance.pk)


def _uses_model_backend(backend_path: str) -> bool:
    """Whether the session's backend loads accounts as ``ModelBackend`` does (by id, active)."""
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    backend = auth.load_backend(backend_path)
    return isinstance(backend, ModelBackend) and type(backend).get_user is ModelBackend.get_user


def request_account(request: HttpRequest) -> Account | AnonymousUser:
    """``django.contrib.auth.get_user`` served from the cache when the session verifies."""
    if not settings.MEISAI_ACCOUNT_CACHE:
        return auth.get_user(request)
    session = request.session
    try:
        account_id = Account._meta.pk.to_python(session[auth.SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except (KeyError, ValueError, TypeError):
        return auth.get_user(request)
    session_hash = session.get(HASH_SESSION_KEY)
    if not session_hash or not _uses_model_backend(backend_path):
        return auth.get_user(request)
    entry_key, generation_key = _keys(account_id)
    found = cache.get_many([entry_key, generation_key])
    entry, generation = found.get(entry_key), found.get(generation_key)
    if entry is None or generation is None or entry["generation"] != generation:
        if generation is None:
            cache.add(generation_key, secrets.token_hex(8), timeout=GENERATION_SECONDS)
            generation = cache.get(generation_key)
        # The generation is read before the row: a change committed in between renews it, so
        # this (possibly old) row is stored under a generation that no longer counts.
        user = auth.get_user(request)
        if isinstance(user, Account) and generation is not None:
            cache.set(entry_key, _entry(user, generation), timeout=ENTRY_SECONDS)
        return user
    if entry["values"][entry["fields"].index("is_active")] is not True:
        return auth.get_user(request)
    if not constant_time_compare(session_hash, entry["session_hash"]):
        return auth.get_user(request)
    return _account_from(entry)
