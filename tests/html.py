"""Helpers to compare rendered pages."""

from __future__ import annotations

import re

_CSRF_TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')


def without_csrf_tokens(page: str) -> str:
    """The page with its CSRF tokens blanked: Django masks the token anew on every render, so two
    renders of the same page differ there and only there (every page has the language switch)."""
    return _CSRF_TOKEN.sub(r"\1\2", page)
