"""Emailed single-use links: a random token, signed with a timestamp, of which the database keeps
only the SHA-256. The signature lets a forged or stale link be refused before any query; the
stored hash makes a link single-use and useless to anyone who reads the database."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core import signing


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_issue(*, purpose: str) -> tuple[str, str]:
    """(the token to put in the URL, the hash to store)."""
    secret = secrets.token_urlsafe(32)
    signed = signing.TimestampSigner(salt=f"meisai.accounts.{purpose}").sign(secret)
    return signed, token_hash(secret)


def token_read(token: str, *, purpose: str, max_age_seconds: int) -> str | None:
    """The stored hash a URL token stands for, or None when it is forged or too old."""
    try:
        secret = signing.TimestampSigner(salt=f"meisai.accounts.{purpose}").unsign(
            token, max_age=max_age_seconds
        )
    except signing.BadSignature:
        return None
    return token_hash(secret)


def code_issue() -> str:
    """A six-digit one-time code."""
    return f"{secrets.randbelow(10**6):06d}"


def code_hash(code: str, *, salt: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{salt}:{code}".encode(), hashlib.sha256
    ).hexdigest()
