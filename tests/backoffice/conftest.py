"""Staff of the console: a staff account per role with a confirmed TOTP device, and a browser
signed in as one (password and second factor passed, as the staff login leaves the session)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from meisai.accounts.models import Account
from meisai.backoffice.roles import Role
from tests.factories import AccountFactory

#: The password every staff account of these tests has (AccountFactory's).
STAFF_PASSWORD = "correct-horse-battery"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def roles_present() -> None:
    """The staff groups, as the back office's migrations make them. A transactional test's flush
    empties every table, the migrations' rows too; this puts the groups back for the next."""
    if Group.objects.filter(name__in=[role.value for role in Role]).count() == len(Role):
        return
    for name in ("0001_initial", "0002_administrator_role"):
        importlib.import_module(f"meisai.backoffice.migrations.{name}").forward(apps, None)


def staff_account(role: Role, login_id: str | None = None) -> Account:
    """A staff member of ``role`` with a confirmed TOTP device."""
    roles_present()
    staff = AccountFactory(
        login_id=login_id or f"staff-{role.value}",
        member=None,
        email=f"{role.value}@issuer.example.jp",
        is_staff=True,
        source=Account.Source.STAFF,
    )
    staff.groups.add(Group.objects.get(name=role.value))
    TOTPDevice.objects.create(user=staff, name="console", confirmed=True)
    return staff


def second_factor_passed(client: Client, staff: Account) -> Client:
    """Mark ``client``'s session (``staff`` logged in with ``force_login``) as having passed the
    TOTP code, as the staff login does; ``staff`` gets a confirmed device if it has none."""
    device, _ = TOTPDevice.objects.get_or_create(
        user=staff, defaults={"name": "console", "confirmed": True}
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def signed_in(staff: Account) -> Client:
    """A browser with ``staff`` signed in and verified by its TOTP device."""
    client = Client()
    client.force_login(staff, backend=MODEL_BACKEND)
    return second_factor_passed(client, staff)


@pytest.fixture
def staff_client(db: Any) -> Callable[[Role], Client]:
    """``staff_client(Role.OPERATOR)``: a verified browser of a new staff member of that role."""
    return lambda role: signed_in(staff_account(role))
