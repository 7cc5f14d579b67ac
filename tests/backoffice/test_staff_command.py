"""``meisai staff add|list|disable`` (SPEC 2): staff accounts from the command line, audited."""

from __future__ import annotations

import datetime as dt
import getpass
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from meisai.accounts.models import Account
from meisai.audit.models import AuditEntry
from meisai.backoffice.roles import Role
from meisai.clock import JST
from tests.backoffice.conftest import staff_account
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

PASSWORD = "kitakami-river-2025"
START = dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST)
ACTOR = f"cli:{getpass.getuser()}"


@pytest.fixture
def frozen():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _staff(*args: str, stdin: str = f"{PASSWORD}\n") -> str:
    out = io.StringIO()
    call_command("staff", *args, stdin=io.StringIO(stdin), stdout=out)
    return out.getvalue()


def _add(login_id: str = "op-takahashi", role: str = "operator", **kwargs: str) -> str:
    return _staff(
        "add", login_id, "--role", role, "--email", f"{login_id}@issuer.example.jp", **kwargs
    )


def _sign_in(client: Client, login_id: str, password: str = PASSWORD):
    client.post("/backoffice/login/", {"username": login_id, "password": password})
    device = TOTPDevice.objects.get(user__login_id=login_id)
    token = TOTP(device.bin_key, device.step, device.t0, device.digits).token()
    return client.post("/backoffice/login/code/", {"code": f"{token:06d}"})


def test_add_creates_a_staff_account_and_prints_the_totp_uri_once(frozen):
    output = _add()

    staff = Account.objects.get(login_id="op-takahashi")
    assert (staff.is_staff, staff.member, staff.source, staff.email, staff.is_superuser) == (
        True,
        None,
        Account.Source.STAFF,
        "op-takahashi@issuer.example.jp",
        False,
    )
    assert list(staff.groups.values_list("name", flat=True)) == ["operator"]
    assert staff.check_password(PASSWORD)
    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed is False  # confirmed by its first code at the staff login
    assert output.count("otpauth://totp/") == 1
    assert output.splitlines()[-1] == device.config_url
    # The label is the issuer and the login ID; the issuer is named again for older apps.
    assert device.config_url.startswith("otpauth://totp/")
    assert "op-takahashi?secret=" in device.config_url and "&issuer=" in device.config_url
    assert PASSWORD not in output
    assert [(e.actor, e.action, e.detail) for e in AuditEntry.objects.all()] == [
        (ACTOR, "staff_add", {"login_id": "op-takahashi", "role": "operator"})
    ]
    # The URI is never shown again.
    assert "otpauth" not in _staff("list")


def test_the_new_staff_member_signs_in_and_the_first_code_confirms_the_device(client, frozen):
    _add()

    assert _sign_in(client, "op-takahashi").url == "/backoffice/"

    assert TOTPDevice.objects.get(user__login_id="op-takahashi").confirmed is True
    assert client.get("/backoffice/").status_code == 200


@pytest.mark.parametrize(
    ("role", "group"),
    [("operator", "operator"), ("auditor", "auditor"), ("admin", "administrator")],
)
def test_add_gives_the_group_of_the_role(role, group):
    _add("staff-new", role)
    staff = Account.objects.get(login_id="staff-new")
    assert list(staff.groups.values_list("name", flat=True)) == [group]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("op-short",), "short-pass1\n", "at least 12 characters"),
        (("op-short",), "op-short-and-long\n", "ログインID"),
        (("12345678",), f"{PASSWORD}\n", "is no login ID"),
        (("op",), f"{PASSWORD}\n", "is no login ID"),
        (("Iwate.Taro",), f"{PASSWORD}\n", "is taken"),
    ],
)
def test_add_refuses_and_creates_nothing(args, stdin, message):
    AccountFactory(login_id="iwate.taro")  # a cardholder's ID, taken whatever its case
    accounts = Account.objects.count()

    with pytest.raises(CommandError, match=message):
        _staff("add", *args, "--role", "operator", "--email", "x@issuer.example.jp", stdin=stdin)

    assert Account.objects.count() == accounts
    assert not TOTPDevice.objects.exists()
    assert not AuditEntry.objects.exists()


def test_add_refuses_an_address_that_is_none():
    with pytest.raises(CommandError, match="is no email address"):
        _staff("add", "op-takahashi", "--role", "operator", "--email", "not-an-address")
    assert not Account.objects.filter(login_id="op-takahashi").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_password_is_asked_twice(monkeypatch):
    typed = iter([PASSWORD, "something-else-entirely"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(typed))

    with pytest.raises(CommandError, match="the two passwords differ"):
        call_command(
            "staff",
            *("add", "op-takahashi", "--role", "operator", "--email", "t@issuer.example.jp"),
            stdin=_Terminal(),
            stdout=io.StringIO(),
        )
    assert not Account.objects.filter(login_id="op-takahashi").exists()

    typed = iter([PASSWORD, PASSWORD])
    call_command(
        "staff",
        *("add", "op-takahashi", "--role", "operator", "--email", "t@issuer.example.jp"),
        stdin=_Terminal(),
        stdout=io.StringIO(),
    )
    assert Account.objects.get(login_id="op-takahashi").check_password(PASSWORD)


def test_list_shows_every_staff_account_and_no_cardholder(client, frozen):
    staff_account(Role.AUDITOR, login_id="au-ito")  # device confirmed
    _add("op-takahashi")  # device not yet used
    AccountFactory(login_id="iwate.taro")
    _staff("disable", "au-ito")

    lines = _staff("list").splitlines()

    assert lines == [
        "login_id\trole\tstate\ttotp\tlast_login\temail",
        "au-ito\tauditor\tdisabled\tconfirmed\t-\tauditor@issuer.example.jp",
        "op-takahashi\toperator\tactive\tpending\t-\top-takahashi@issuer.example.jp",
    ]


def test_disable_ends_the_sessions_and_the_account_cannot_sign_in(client, frozen):
    _add("op-takahashi")
    assert _sign_in(client, "op-takahashi").url == "/backoffice/"

    output = _staff("disable", "OP-Takahashi")

    assert output == "op-takahashi: disabled (1 session(s) ended)\n"
    assert client.get("/backoffice/").url == "/backoffice/login/?next=/backoffice/"
    frozen.shift(dt.timedelta(seconds=30))
    again = Client()
    page = again.post("/backoffice/login/", {"username": "op-takahashi", "password": PASSWORD})
    assert "ログインIDまたはパスワードが正しくありません。" in page.content.decode()
    staff = Account.objects.get(login_id="op-takahashi")
    assert (staff.is_active, staff.deactivated_at) == (False, START)
    assert [(e.actor, e.action, e.detail) for e in AuditEntry.objects.order_by("id")][-2:] == [
        (ACTOR, "staff_disable", {"login_id": "op-takahashi", "sessions_ended": 1}),
        ("op-takahashi", "staff_login_failed", {"step": "password", "locked": False}),
    ]


def test_disable_refuses_a_cardholder_an_unknown_id_and_a_disabled_one():
    AccountFactory(login_id="iwate.taro")
    _add("op-takahashi")
    _staff("disable", "op-takahashi")

    with pytest.raises(CommandError, match="no staff account has the login ID 'iwate.taro'"):
        _staff("disable", "iwate.taro")
    with pytest.raises(CommandError, match="no staff account"):
        _staff("disable", "nobody-here")
    with pytest.raises(CommandError, match="op-takahashi is already disabled"):
        _staff("disable", "op-takahashi")
    assert Account.objects.get(login_id="iwate.taro").is_active
    assert AuditEntry.objects.filter(action="staff_disable").count() == 1
