"""Sealing the bodies of emails that carry a secret (SPEC 3.10, "Secrets").

A registration link, a login code, a password-reset link… is a credential: whoever reads it can
act as the member. The outbox keeps the body of such an email sealed — encrypted and
authenticated with Fernet (AES-128-CBC and HMAC-SHA256) — from the moment it is queued until the
sender opens it to send it; once sent (or given up) the sender replaces it with a placeholder.
A database dump or backup therefore never holds a usable link or code.

The key is derived from ``SECRET_KEY`` with HKDF-SHA256 and a fixed ``info`` string, so it
lives in the environment and never in the database, and differs from every other use of the
secret. ``SECRET_KEY_FALLBACKS`` are tried when opening, so a message queued just before a key
rotation is still delivered.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

#: Marks a sealed value, so a reader never mistakes a placeholder or clear text for one.
SEALED_PREFIX = "sealed:v1:"

#: Names the key's purpose: a key derived for anything else from the same secret differs.
_HKDF_INFO = b"meisai notifications: sealed outbox bodies v1"


class SealBroken(Exception):
    """A sealed value that no current key opens (the secret changed, or the value was altered)."""


def _key(secret: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(derived)


@functools.lru_cache(maxsize=8)
def _fernet(secrets: tuple[str, ...]) -> MultiFernet:
    # The first key seals; every key opens. Cached per set of secrets, so a test that changes
    # the settings gets keys of its own.
    return MultiFernet([Fernet(_key(secret)) for secret in secrets])


def _current() -> MultiFernet:
    fallbacks = tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ()) or ())
    return _fernet((settings.SECRET_KEY, *fallbacks))


def seal(text: str) -> str:
    """``text`` encrypted under the current key, as printable text for a text column."""
    return SEALED_PREFIX + _current().encrypt(text.encode()).decode("ascii")


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)


def unseal(value: str) -> str:
    """The text inside a sealed value; any other value is returned as it is."""
    if not is_sealed(value):
        return value
    try:
        return _current().decrypt(value[len(SEALED_PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as error:
        raise SealBroken("the sealed body cannot be opened with the current SECRET_KEY") from error
