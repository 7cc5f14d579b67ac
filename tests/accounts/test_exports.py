"""``meisai export enrollments --since DATETIME -o FILE`` (SPEC 3.9): new and changed
本人認証サービス enrolments, never a password."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from meisai.accounts.models import Enrollment
from meisai.clock import JST
from tests.accounts.conftest import PASSWORD, complete_registration, links_in, outbox
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_export_carries_the_new_enrolment_and_the_revoked_legacy_one(
    client, cardholder, frozen, tmp_path
):
    old = AccountFactory(member=cardholder.member, login_id="old.legacy", email="old@example.jp")
    Enrollment.objects.create(
        member=cardholder.member,
        account=old,
        card=cardholder.card,
        login_id="old.legacy",
        source=Enrollment.Source.LEGACY,
        enrolled_at=dt.datetime(2020, 5, 1, 9, 0, tzinfo=JST),
        updated_at=dt.datetime(2020, 5, 1, 9, 0, tzinfo=JST),
    )
    other = AccountFactory(login_id="untouched.one")
    Enrollment.objects.create(
        member=other.member,
        account=other,
        login_id="untouched.one",
        source=Enrollment.Source.LEGACY,
        enrolled_at=dt.datetime(2021, 1, 1, tzinfo=JST),
        updated_at=dt.datetime(2021, 1, 1, tzinfo=JST),
    )
    complete_registration(client)
    # A re-registration: it takes effect when the owner's address confirms it.
    (notice,) = outbox("old@example.jp", "reregistration_notice")
    assert client.post(links_in(notice)[0]).status_code == 200
    output = tmp_path / "enrollments.csv"
    call_command("export", "enrollments", "--since", "2025-01-10T00:00", "-o", str(output))
    text = output.read_bytes().decode("cp932")
    member_no = cardholder.member.member_no
    assert text == (
        "member_no,login_id,card_last4,status,source,enrolled_at,updated_at\r\n"
        f"{member_no},old.legacy,1234,revoked,legacy,2020-05-01T09:00:00+09:00,2025-01-10T10:00:00+09:00\r\n"
        f"{member_no},morioka.hanako,1234,active,registration,2025-01-10T10:00:00+09:00,2025-01-10T10:00:00+09:00\r\n"
    )
    assert "password" not in text and PASSWORD not in text
    assert "4980123456781234" not in text


def test_since_excludes_older_changes_and_takes_an_offset(cardholder, tmp_path):
    Enrollment.objects.create(
        member=cardholder.member,
        login_id="legacy.one",
        source=Enrollment.Source.LEGACY,
        enrolled_at=dt.datetime(2024, 11, 13, 1, 0, tzinfo=JST),
        updated_at=dt.datetime(2024, 11, 13, 1, 0, tzinfo=JST),
    )
    output = tmp_path / "e.csv"
    call_command(
        "export",
        "enrollments",
        "--since",
        "2024-11-12T16:00:01+00:00",
        "-o",
        str(output),
        "--encoding",
        "utf-8",
    )
    assert output.read_bytes().decode("utf-8").count("\r\n") == 1
    call_command("export", "enrollments", "--since", "2024-11-13", "-o", str(output))
    assert "legacy.one,,active,legacy" in output.read_bytes().decode("cp932")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since: not an ISO 8601 date-time: 'yesterday'"),
        ([], "enrollments needs --since DATETIME"),
        (["2025-01", "--since", "2025-01-01"], "enrollments takes no billing month"),
    ],
)
def test_bad_arguments_name_the_problem(db, tmp_path, args, message):
    output = tmp_path / "e.csv"
    with pytest.raises(CommandError, match=message):
        call_command("export", "enrollments", *args, "-o", str(output))
