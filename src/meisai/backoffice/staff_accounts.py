"""Staff accounts (SPEC 2): adding one, listing them, disabling one. Each change is audited.

A staff account is an ``accounts.Account`` with ``is_staff``, no member, ``source`` staff, the
group of its role, and one TOTP device (django-otp). ``staff_add`` returns the device's
provisioning URI (``otpauth://totp/…``) for the one time it is shown; the device stays
unconfirmed until its first code is accepted at the staff login (``staff_login``), so the list
tells whose authenticator app was never set up.

The password policy is the members' (``accounts.passwords.password_check``: 64 characters at
most, not a common password, not containing the login ID) with a longer minimum,
``STAFF_PASSWORD_MIN_LENGTH``: a staff password opens every member's data, and staff type it
on office computers with a password manager, not on a phone. The login ID follows the members'
rule (``accounts.login_ids``), so the two never collide in shape or in the unique constraint.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables
from django_otp.plugins.otp_totp.models import TOTPDevice

from meisai.accounts.login_ids import login_id_key, login_id_problem, normalize_login_id
from meisai.accounts.models import Account
from meisai.accounts.passwords import PasswordOwner, normalize_password, password_check
from meisai.accounts.sessions import account_sessions_end
from meisai.audit.services import audit_record
from meisai.backoffice.roles import Role
from meisai.clock import now

#: Staff passwords are longer than members' (8): see the module's docstring.
STAFF_PASSWORD_MIN_LENGTH = 12
#: The name of the TOTP device ``staff_add`` creates.
DEVICE_NAME = "console"


class StaffRefused(Exception):
    """The change was not made; the message says why (for the command line)."""


@dataclass(frozen=True)
class StaffAdded:
    account: Account
    #: ``otpauth://totp/…``: shown once, never stored anywhere but in the device's key.
    provisioning_uri: str


@dataclass(frozen=True)
class StaffDisabled:
    account: Account
    sessions_ended: int


@dataclass(frozen=True)
class StaffRow:
    login_id: str
    #: The role groups the account is in (a superuser counts as administrator).
    roles: tuple[str, ...]
    email: str
    active: bool
    #: "confirmed" (a code was accepted), "pending" (never used) or "none".
    totp: str
    last_login: str


@sensitive_variables("password")
def staff_password_problems(*, login_id: str, password: str) -> list[str]:
    """What is wrong with ``password`` for a staff account (empty when nothing is)."""
    password = normalize_password(password)
    problems = []
    if len(password) < STAFF_PASSWORD_MIN_LENGTH:
        problems.append(f"the password must have at least {STAFF_PASSWORD_MIN_LENGTH} characters")
    try:
        password_check(password, owner=PasswordOwner(login_id=login_id))
    except ValidationError as error:
        # The members' minimum (8) says less than ours; the other rules speak for themselves.
        for detail in error.error_list:
            if detail.code != "password_too_short":
                problems.extend(detail.messages)
    return problems


@sensitive_variables("password")
@transaction.atomic
def staff_add(*, login_id: str, role: Role, email: str, password: str, actor: str) -> StaffAdded:
    """Create a staff account of ``role`` with its TOTP device; audited as ``staff_add``."""
    login_id = normalize_login_id(login_id)
    if login_id_problem(login_id) is not None:
        raise StaffRefused(
            f"{login_id!r} is no login ID: 6-20 half-width letters, digits, '-', '_' or '.', "
            "not all digits"
        )
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as error:
        raise StaffRefused(f"{email!r} is no email address") from error
    if problems := staff_password_problems(login_id=login_id, password=password):
        raise StaffRefused("password refused: " + "; ".join(problems))
    account = Account(
        login_id=login_id,
        member=None,
        email=email,
        is_staff=True,
        source=Account.Source.STAFF,
    )
    account.set_password(normalize_password(password))
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as error:
        raise StaffRefused(f"the login ID {login_id!r} is taken") from error
    account.groups.add(Group.objects.get(name=role.value))
    device = TOTPDevice.objects.create(user=account, name=DEVICE_NAME, confirmed=False)
    audit_record(actor=actor, action="staff_add", detail={"login_id": login_id, "role": role.value})
    return StaffAdded(account=account, provisioning_uri=device.config_url)


def staff_list() -> list[StaffRow]:
    """Every staff account, active or not, by login ID."""
    accounts = (
        Account.objects.filter(is_staff=True, member__isnull=True)
        .prefetch_related("groups")
        .order_by("login_id")
    )
    devices: dict[int, bool] = {}
    for user_id, confirmed in TOTPDevice.objects.filter(user__in=accounts).values_list(
        "user_id", "confirmed"
    ):
        devices[user_id] = devices.get(user_id, False) or confirmed
    role_names = {role.value for role in Role}
    rows = []
    for account in accounts:
        roles = sorted(group.name for group in account.groups.all() if group.name in role_names)
        if account.is_superuser and Role.ADMINISTRATOR.value not in roles:
            roles.append(Role.ADMINISTRATOR.value)
        if account.pk not in devices:
            totp = "none"
        else:
            totp = "confirmed" if devices[account.pk] else "pending"
        last_login = account.last_login.isoformat(timespec="seconds") if account.last_login else "-"
        rows.append(
            StaffRow(
                login_id=account.login_id,
                roles=tuple(roles),
                email=account.email,
                active=account.is_active,
                totp=totp,
                last_login=last_login,
            )
        )
    return rows


@transaction.atomic
def staff_disable(*, login_id: str, actor: str) -> StaffDisabled:
    """Disable a staff account and end its sessions; audited as ``staff_disable``. It can no
    longer sign in (an inactive account never authenticates)."""
    key = login_id_key(login_id)
    account = (
        Account.objects.select_for_update()
        .filter(login_id__iexact=key, is_staff=True, member__isnull=True)
        .first()
    )
    if account is None:
        raise StaffRefused(f"no staff account has the login ID {login_id!r}")
    if not account.is_active:
        raise StaffRefused(f"{account.login_id} is already disabled")
    account.is_active = False
    account.deactivated_at = now()
    account.save(update_fields=["is_active", "deactivated_at"])
    ended = account_sessions_end(account=account)
    audit_record(
        actor=actor,
        action="staff_disable",
        detail={"login_id": account.login_id, "sessions_ended": ended},
    )
    return StaffDisabled(account=account, sessions_ended=ended)
