"""Staff sign-in (SPEC 2, 3.10): the password, then a TOTP code; replayed and wrong codes, the
lock after 10 failures, the 15-minute idle limit, who reaches which page, and the audit rows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from meisai.accounts.models import Account, ThrottleHit
from meisai.audit.models import AuditEntry
from meisai.backoffice.roles import Role
from meisai.clock import JST
from tests.backoffice.conftest import STAFF_PASSWORD, staff_account
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

FAILED = "ログインIDまたはパスワードが正しくありません。"
WRONG_CODE = "認証コードが正しくありません。"
LOGIN = "/backoffice/login/"
CODE = "/backoffice/login/code/"
START = dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST)


@pytest.fixture
def frozen():
    """Time stands still at 2025-01-10 10:00 JST unless a test moves it."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def operator(db) -> Account:
    return staff_account(Role.OPERATOR, login_id="op-sato")


def _code(staff: Account) -> str:
    """The code the staff member's authenticator app shows now."""
    device = TOTPDevice.objects.get(user=staff)
    token = TOTP(device.bin_key, device.step, device.t0, device.digits).token()
    return f"{token:0{device.digits}d}"


def _password(client: Client, login_id: str, password: str = STAFF_PASSWORD, **extra: str):
    return client.post(LOGIN, {"username": login_id, "password": password, **extra})


def _sign_in(client: Client, staff: Account, **extra: str):
    assert _password(client, staff.login_id, **extra).url == CODE
    return client.post(CODE, {"code": _code(staff)})


def _page(response) -> str:
    """The page without its CSRF token and the login ID typed (echoed back in the form)."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return re.sub(r'name="username" [^>]*value="[^"]*"', "", html)


def _trail() -> list[tuple[str, str, dict, str | None]]:
    return [
        (e.actor, e.action, e.detail, e.client_ip)
        for e in AuditEntry.objects.filter(action__startswith="staff_").order_by("id")
    ]


def test_staff_signs_in_with_password_then_totp_code(client, operator, frozen):
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert "スタッフログイン" in page.content.decode()
    assert "コンソールメニュー" not in page.content.decode()  # no menu before signing in

    response = _password(client, "op-sato")

    assert response.url == CODE
    assert "_auth_user_id" not in client.session
    code_page = client.get(CODE)
    assert "認証コードの入力" in code_page.content.decode()
    assert "コンソールメニュー" not in code_page.content.decode()
    assert "no-store" in code_page["Cache-Control"]

    signed_in = client.post(CODE, {"code": _code(operator)})

    assert signed_in.url == "/backoffice/"
    assert client.session["_auth_user_id"] == str(operator.pk)
    assert client.get("/backoffice/").status_code == 200
    assert client.get("/backoffice/admin/").status_code == 200
    assert _trail() == [("op-sato", "staff_login", {}, "127.0.0.1")]


def test_sign_in_returns_to_the_page_asked_for_and_only_inside_the_console(
    client, operator, frozen
):
    asked = client.get("/backoffice/admin/members/member/")
    assert asked.url == f"{LOGIN}?next=/backoffice/admin/members/member/"

    landed = _sign_in(client, operator, next="/backoffice/admin/members/member/")
    assert landed.url == "/backoffice/admin/members/member/"

    client.post("/backoffice/logout/")
    frozen.shift(dt.timedelta(seconds=30))  # a new code (the last one cannot be used again)
    assert _sign_in(client, operator, next="https://evil.example/").url == "/backoffice/"


def test_a_replayed_code_is_refused(client, operator, frozen):
    code = _code(operator)
    assert _sign_in(client, operator).url == "/backoffice/"
    client.post("/backoffice/logout/")

    # The same code again (same 30-second step, seen over a shoulder): refused.
    assert _password(client, "op-sato").url == CODE
    replayed = client.post(CODE, {"code": code})

    assert replayed.status_code == 200
    assert WRONG_CODE in replayed.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/backoffice/").url == f"{LOGIN}?next=/backoffice/"

    # The next step's code is a new one and signs in.
    frozen.shift(dt.timedelta(seconds=30))
    assert client.post(CODE, {"code": _code(operator)}).url == "/backoffice/"
    assert [action for _, action, _, _ in _trail()] == [
        "staff_login",
        "staff_logout",
        "staff_login_failed",
        "staff_login",
    ]


def test_a_wrong_code_is_refused_and_audited(client, operator, frozen):
    right = _code(operator)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    _password(client, "op-sato")

    response = client.post(CODE, {"code": wrong})

    assert response.status_code == 200
    assert WRONG_CODE in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert _trail() == [
        ("op-sato", "staff_login_failed", {"step": "code", "locked": False}, "127.0.0.1")
    ]


def test_password_without_the_code_opens_nothing(client, operator):
    _password(client, "op-sato")

    assert client.get("/backoffice/").url == f"{LOGIN}?next=/backoffice/"
    assert client.get("/backoffice/admin/").url == f"{LOGIN}?next=/backoffice/admin/"
    assert client.get("/backoffice/admin/members/member/").status_code == 302

    # A staff session that never passed a code (logged in some other way): the same.
    other = Client()
    other.force_login(operator, backend="django.contrib.auth.backends.ModelBackend")
    assert other.get("/backoffice/").url == f"{LOGIN}?next=/backoffice/"
    assert other.get("/backoffice/admin/").url == f"{LOGIN}?next=/backoffice/admin/"


def test_the_code_must_follow_the_password_within_5_minutes(client, operator, frozen):
    _password(client, "op-sato")
    frozen.shift(dt.timedelta(minutes=5, seconds=1))

    assert client.post(CODE, {"code": _code(operator)}).url == LOGIN
    assert "_auth_user_id" not in client.session


def test_ten_failures_lock_for_30_minutes_then_sign_in_works(client, operator, frozen):
    for _ in range(10):
        assert FAILED in _password(client, "op-sato", "wrong-password-1").content.decode()

    locked = _password(client, "op-sato")
    unknown = _password(client, "nobody-here")

    assert locked.status_code == unknown.status_code == 200
    assert _page(locked) == _page(unknown)  # a locked ID looks like a wrong password
    assert "_auth_user_id" not in client.session

    frozen.shift(dt.timedelta(minutes=29, seconds=59))
    assert FAILED in _password(client, "op-sato").content.decode()
    frozen.shift(dt.timedelta(seconds=2))  # 30 minutes after the tenth failure
    assert _sign_in(client, operator).url == "/backoffice/"
    failed = [detail for _, action, detail, _ in _trail() if action == "staff_login_failed"]
    assert failed[:10] == [{"step": "password", "locked": False}] * 9 + [
        {"step": "password", "locked": True}
    ]
    assert failed[10:] == [
        {"step": "password", "locked": True},  # the right password, locked
        {"step": "password", "locked": False},  # the unknown ID
        {"step": "password", "locked": True},  # the right password at 29:59
    ]


def test_nine_failures_do_not_lock(client, operator):
    for _ in range(9):
        _password(client, "op-sato", "wrong-password-1")
    assert _sign_in(client, operator).url == "/backoffice/"


def test_wrong_codes_count_towards_the_same_lock(client, operator, frozen):
    _password(client, "op-sato")
    right = _code(operator)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(9):
        assert WRONG_CODE in client.post(CODE, {"code": wrong}).content.decode()

    tenth = client.post(CODE, {"code": wrong})

    assert tenth.url == LOGIN  # back to the password, and the ID is locked
    assert FAILED in _password(client, "op-sato").content.decode()
    assert "_auth_user_id" not in client.session


def test_15_minutes_idle_end_a_staff_session(client, operator, frozen):
    _sign_in(client, operator)
    frozen.shift(dt.timedelta(minutes=14, seconds=59))
    assert client.get("/backoffice/").status_code == 200

    frozen.shift(dt.timedelta(minutes=15, seconds=1))

    assert client.get("/backoffice/").url == f"{LOGIN}?next=/backoffice/"
    assert client.get("/backoffice/admin/").url == f"{LOGIN}?next=/backoffice/admin/"


def test_after_12_hours_a_busy_staff_session_ends_at_the_staff_login(client, operator, frozen):
    _sign_in(client, operator)
    for _ in range(12 * 6 - 1):  # never idle: a page every ten minutes, for 11 h 50 min
        frozen.shift(dt.timedelta(minutes=10))
        assert client.get("/backoffice/").status_code == 200
    frozen.shift(dt.timedelta(minutes=11))
    response = client.get("/backoffice/")
    assert response.status_code == 302
    assert response.url == LOGIN
    assert "_auth_user_id" not in client.session


def test_a_cardholder_never_reaches_a_staff_page(client):
    cardholder = AccountFactory(login_id="iwate.taro")
    client.force_login(cardholder, backend="django.contrib.auth.backends.ModelBackend")

    for path in ("/backoffice/", "/backoffice/admin/", "/backoffice/admin/members/member/"):
        assert client.get(path).status_code == 404, path


def test_a_cardholder_cannot_sign_in_at_the_staff_login(client, operator):
    AccountFactory(login_id="iwate.taro")

    cardholder = _password(client, "iwate.taro")  # the cardholder's right password
    wrong = _password(client, "op-sato", "wrong-password-1")

    assert cardholder.status_code == wrong.status_code == 200
    assert _page(cardholder) == _page(wrong)
    assert client.get(CODE).url == LOGIN
    assert _trail() == [
        ("iwate.taro", "staff_login_failed", {"step": "password", "locked": False}, "127.0.0.1"),
        ("op-sato", "staff_login_failed", {"step": "password", "locked": False}, "127.0.0.1"),
    ]


def test_staff_cannot_log_in_at_the_member_login(client, operator):
    page = client.post("/login/", {"username": "op-sato", "password": STAFF_PASSWORD})

    assert FAILED in page.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("lacks", ["role", "device"])
def test_a_staff_account_without_a_role_or_a_device_cannot_sign_in(client, operator, lacks):
    if lacks == "role":
        operator.groups.clear()
    else:
        TOTPDevice.objects.filter(user=operator).delete()

    assert FAILED in _password(client, "op-sato").content.decode()
    assert client.get(CODE).url == LOGIN


def test_anonymous_visitors_are_sent_to_the_staff_login(client):
    assert client.get("/backoffice/").url == f"{LOGIN}?next=/backoffice/"
    assert client.get("/backoffice/admin/").url == f"{LOGIN}?next=/backoffice/admin/"
    # The admin's own login page is the staff login.
    assert client.get("/backoffice/admin/login/?next=/backoffice/admin/").url == (
        f"{LOGIN}?next=/backoffice/admin/"
    )


def test_logout_ends_the_session_and_is_audited(client, operator):
    _sign_in(client, operator)

    response = client.post("/backoffice/logout/")

    assert response.url == LOGIN
    assert client.get("/backoffice/").url == f"{LOGIN}?next=/backoffice/"
    assert [action for _, action, _, _ in _trail()] == ["staff_login", "staff_logout"]


def test_the_admin_logout_is_the_staff_logout(client, operator):
    _sign_in(client, operator)

    assert client.post("/backoffice/admin/logout/").url == LOGIN
    assert client.get("/backoffice/admin/").status_code == 302
    assert [action for _, action, _, _ in _trail()] == ["staff_login", "staff_logout"]


def test_the_password_step_is_throttled_per_client(client, operator, frozen):
    ThrottleHit.objects.bulk_create(
        ThrottleHit(scope="staff_login", client="127.0.0.1", at=START - dt.timedelta(minutes=30))
        for _ in range(60)
    )

    response = _password(client, "op-sato")

    assert response.status_code == 429
    assert response["Retry-After"] == str(30 * 60)
    assert _trail() == []  # refused before the password was checked
    frozen.shift(dt.timedelta(minutes=30, seconds=1))
    assert _password(client, "op-sato").url == CODE


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (LOGIN, {"username": "x" * 5000, "password": "y" * 5000}),
        (CODE, {"code": "1" * 5000}),
    ],
)
def test_over_long_input_gets_the_form_error(client, operator, path, data):
    if path == CODE:
        _password(client, "op-sato")

    response = client.post(path, data)

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session
