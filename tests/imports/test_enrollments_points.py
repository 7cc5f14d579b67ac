"""meisai import enrollments (legacy 本人認証サービス accounts) and points (balances)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password

from meisai.accounts.hashers import WRAPPERS, MeisaiArgon2PasswordHasher
from meisai.accounts.models import Account, Enrollment
from meisai.clock import JST
from meisai.members.models import DeliveryPreference, Member
from meisai.points.models import PointBalance
from tests.factories import AccountFactory
from tests.imports.conftest import CARD_1, CARD_2, ENROLLMENTS_HEADER, POINTS_HEADER, member_row

pytestmark = pytest.mark.django_db

HASH = PBKDF2PasswordHasher().encode("legacy-pass-2024", "fixedsalt123", iterations=1000)


@pytest.fixture
def members(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1), member_row("M0000002", CARD_2))


def test_legacy_account_logs_in_with_its_existing_password(importer, members):
    path = importer.write(
        ENROLLMENTS_HEADER,
        f"M0000001,Taro.Morioka,{HASH},さくら,taro@example.jp,2023-06-01 10:30:00",
    )
    assert "1 rows; rows: 1 new" in importer.run("enrollments", path)
    account = Account.objects.get()
    assert (
        account.login_id,
        account.member.member_no,
        account.email,
        account.personal_message,
        account.source,
    ) == ("Taro.Morioka", "M0000001", "taro@example.jp", "さくら", "legacy")
    enrollment = Enrollment.objects.get()
    assert (enrollment.login_id, enrollment.source, enrollment.account, enrollment.enrolled_at) == (
        "Taro.Morioka",
        "legacy",
        account,
        dt.datetime(2023, 6, 1, 10, 30, tzinfo=JST),
    )
    assert Account.objects.get_by_natural_key("taro.morioka") == account
    # Stored wrapped in Argon2id (a wrong password costs what it costs for any ID), not as it came.
    chosen = MeisaiArgon2PasswordHasher
    cost = f"m={chosen.memory_cost},t={chosen.time_cost},p={chosen.parallelism}"
    assert account.password.startswith(f"argon2_pbkdf2_sha256$1000$fixedsalt123${cost}$")
    assert HASH.rsplit("$", 1)[1] not in account.password
    assert account.check_password("legacy-pass-2024")
    # Flyer ①: a legacy member stops paper by themselves; the import leaves delivery alone.
    assert DeliveryPreference.objects.count() == 0


def test_enrollment_errors(importer, members):
    AccountFactory(login_id="taken_id", member=Member.objects.get(member_no="M0000002"))
    path = importer.write(
        ENROLLMENTS_HEADER,
        f"M0000001,12345678,{HASH},さくら,a@example.jp,2023-06-01",
        "M0000001,abc,md5$x$y,さくら,a@example.jp,2023-06-01",
        f"M0000001,good_id,{HASH},,a@example.jp,2023-02-30",
        f"M9999999,other_id,{HASH},さくら,a@example.jp,2023-06-01",
        f"M0000001,TAKEN_ID,{HASH},さくら,a@example.jp,2023-06-01",
        f"M0000002,fresh_id,{HASH},さくら,a@example.jp,2023-06-01",
    )
    assert importer.refused("enrollments", path) == [
        f"{path}:2: column login_id: value '12345678': a login ID must not be all digits",
        f"{path}:3: column login_id: value 'abc': not a login ID (6–20 letters, digits, '.', '_' or '-')",
        f"{path}:3: column password_hash: value '…': not a password hash meisai can read (e.g. pbkdf2_sha256$…)",
        f"{path}:4: column personal_message: value '': empty: a value is required",
        f"{path}:4: column enrolled_at: value '2023-02-30': no such date or time",
        f"{path}:5: column member_no: value 'M9999999': unknown member number",
        f"{path}:6: column login_id: value 'TAKEN_ID': the login ID is already taken",
        f"{path}:7: column member_no: value 'M0000002': the member already has another active account (taken_id)",
    ]
    assert Account.objects.count() == 1 and Enrollment.objects.count() == 0


def test_a_malformed_legacy_hash_is_refused_and_a_current_one_kept_as_it_came(importer, members):
    current = make_password("current-pass-2024")
    path = importer.write(
        ENROLLMENTS_HEADER,
        "M0000001,Taro.Morioka,pbkdf2_sha256$1000$salt-without-hash,さくら,a@example.jp,2023-06-01",
        "M0000002,Hanako_H,bcrypt$$2b$12$short,つばき,b@example.jp,2023-06-01",
        f"M0000002,Hanako_H,{PBKDF2PasswordHasher().encode('pw', 's' * 50, 1000)},つばき,"
        "b@example.jp,2023-06-01",
    )
    message = "value '…': not a password hash meisai can read (e.g. pbkdf2_sha256$…)"
    too_long = WRAPPERS["pbkdf2_sha256"].wrapped_length(
        PBKDF2PasswordHasher().encode("pw", "s" * 50, 1000)
    )
    assert importer.refused("enrollments", path) == [
        f"{path}:2: column password_hash: {message}",
        f"{path}:3: column password_hash: {message}",
        # Wrapped in Argon2id it would not fit the account's password column.
        f"{path}:4: column password_hash: value '…': the legacy salt is too long to store:"
        f" wrapped it would be {too_long} characters, over 128",
    ]
    # An Argon2 hash has commas ("m=…,t=…,p=…"): quoted, as CSV wants.
    path = importer.write(
        ENROLLMENTS_HEADER, f'M0000001,Taro.Morioka,"{current}",さくら,a@example.jp,2023-06-01'
    )
    importer.run("enrollments", path)
    assert Account.objects.get().password == current


def test_duplicate_login_id_ignoring_case_inside_the_file(importer, members):
    path = importer.write(
        ENROLLMENTS_HEADER,
        f"M0000001,Same_ID,{HASH},さくら,a@example.jp,2023-06-01",
        f"M0000002,same_id,{HASH},さくら,b@example.jp,2023-06-01",
    )
    assert importer.refused("enrollments", path) == [
        f"{path}:3: column login_id: value 'same_id': duplicate (case ignored): already on line 2"
    ]


def test_re_importing_an_enrolment_changes_nothing(importer, members):
    row = f"M0000001,Taro.Morioka,{HASH},さくら,taro@example.jp,2023-06-01"
    importer.run("enrollments", importer.write(ENROLLMENTS_HEADER, row))
    before = list(Account.objects.values_list("id", "password", "login_id"))
    other = f"M0000002,Hanako_H,{HASH},つばき,hanako@example.jp,2023-07-01"
    out = importer.run("enrollments", importer.write(ENROLLMENTS_HEADER, row, other))
    assert "2 rows; rows: 1 new, 0 updated, 1 unchanged" in out
    assert (
        list(
            Account.objects.filter(login_id="Taro.Morioka").values_list(
                "id", "password", "login_id"
            )
        )
        == before
    )
    assert Enrollment.objects.count() == 2


def test_point_balances_are_imported_and_corrected(importer, members):
    importer.run(
        "points",
        importer.write(
            POINTS_HEADER, "M0000001,2025-03-31,1200,200,2025-06-30", "M0000002,2025-03-31,0,0,"
        ),
    )
    assert list(
        PointBalance.objects.order_by("member__member_no").values_list(
            "member__member_no", "as_of", "balance", "expiring_points", "expires_on"
        )
    ) == [
        ("M0000001", dt.date(2025, 3, 31), 1200, 200, dt.date(2025, 6, 30)),
        ("M0000002", dt.date(2025, 3, 31), 0, 0, None),
    ]
    out = importer.run(
        "points", importer.write(POINTS_HEADER, "M0000001,2025-03-31,1300,200,2025-06-30")
    )
    assert "1 rows; rows: 0 new, 1 updated, 0 unchanged" in out
    assert PointBalance.objects.get(member__member_no="M0000001").balance == 1300


def test_point_errors(importer, members):
    path = importer.write(
        POINTS_HEADER,
        "M0000001,2025-03-31,1200.5,0,",
        "M0000001,2025-04-31,100,0,",
        "M0000002,2025-03-31,100,200,2025-06-30",
        "M0000002,2025-04-30,100,50,",
        "M0000009,2025-03-31,100,0,",
    )
    assert importer.refused("points", path) == [
        f"{path}:2: column balance: value '1200.5': has a decimal point: amounts are whole yen",
        f"{path}:3: column as_of: value '2025-04-31': no such date",
        f"{path}:4: column expiring_points: value '200': more than the balance",
        f"{path}:5: column expires_on: value '': required when points are expiring",
        f"{path}:6: column member_no: value 'M0000009': unknown member number",
    ]
    assert PointBalance.objects.count() == 0


def test_a_balance_twice_for_one_day_is_a_duplicate(importer, members):
    path = importer.write(
        POINTS_HEADER, "M0000001,2025-03-31,1200,0,", "M0000001,２０２５-03-31,1300,0,"
    )
    assert importer.refused("points", path) == [
        f"{path}:3: column as_of: value '２０２５-03-31': duplicate: this member's balance on this day is already on line 2"
    ]
    assert PointBalance.objects.count() == 0
