"""Shared fixtures. Data comes from ``tests.factories``."""

from __future__ import annotations

import pytest

from tests.factories import AccountFactory


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def account(db):
    """A member with a web account (tests that need a particular one define their own)."""
    return AccountFactory()


@pytest.fixture
def member_client(client, account):
    """A browser logged in as ``account``."""
    client.force_login(account)
    return client
