"""Files the importers must survive: NUL bytes, UTF-16, bytes of no encoding, numbers too large
for their column, over-long fields, card numbers where none belongs, and errors nobody expected.

Each is an error line (SPEC 4.1: ``FILE:LINE: column C: value 'V': what is wrong``, or
``FILE: what is wrong`` for the file as a whole), nothing kept, and a batch that ends failed
with those lines, on SQLite and on PostgreSQL (where NUL, a 20-digit amount or an over-long
text are refused by the database itself).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import CommandError

from meisai.accounts.models import Account
from meisai.imports.formats import products
from meisai.imports.models import ImportBatch
from meisai.members.models import Member, Product
from meisai.points.models import PointBalance
from meisai.statements.models import UsageLine
from tests.imports.conftest import (
    CARD_1,
    CARD_2,
    ENROLLMENTS_HEADER,
    MEMBERS_HEADER,
    POINTS_HEADER,
    PRODUCTS_HEADER,
    USAGE_HEADER,
    member_row,
    usage_row,
)

pytestmark = pytest.mark.django_db

#: A card number that passes the Luhn check (4980000012345678 does not).
LUHN_CARD = "4980000012345670"
#: Twenty digits: more than any integer column holds; no run of 13–19 of them passes Luhn, so
#: the error line shows it as it is.
TWENTY_NINES = "9" * 20
BIGINT_MAX = "9,223,372,036,854,775,807"


@pytest.fixture
def members(importer):
    importer.products()
    importer.members(member_row("M0000001", CARD_1), member_row("M0000002", CARD_2))


def failed_batch(kind: str) -> ImportBatch:
    """The one batch of ``kind``, which must have ended failed (never left running)."""
    batch = ImportBatch.objects.get(kind=kind)
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.finished_at is not None
    return batch


def write_bytes(importer, data: bytes, name: str = "hostile.csv"):
    path = importer.tmp_path / name
    path.write_bytes(data)
    return path


# --- bytes that are no text, or no text meisai reads ------------------------------------------


def test_a_nul_byte_in_a_text_field_is_an_error_line(importer):
    path = write_bytes(importer, f"{PRODUCTS_HEADER}\nSTD,日専連\x00カード,0\n".encode())
    assert importer.refused("products", path) == [
        f"{path}:2: column name: value '日専連\\x00カード': contains a NUL character: not text "
        "(a UTF-16 or binary file?)"
    ]
    assert failed_batch("products").errors.count("\n") == 0
    assert Product.objects.count() == 0


def test_a_nul_byte_in_a_usage_merchant_is_an_error_line(importer, members):
    row = usage_row(merchant="イオン\x00")
    path = write_bytes(importer, f"{USAGE_HEADER}\n{row}\n".encode())
    assert importer.refused("usage", path) == [
        f"{path}:2: column merchant: value 'イオン\\x00': contains a NUL character: not text "
        "(a UTF-16 or binary file?)"
    ]
    failed_batch("usage")
    assert UsageLine.objects.count() == 0


def test_a_utf16_file_with_a_bom_is_refused_as_a_whole(importer):
    path = write_bytes(importer, f"{PRODUCTS_HEADER}\nSTD,日専連カード,0\n".encode("utf-16"))
    line = (
        f"{path}: the file is UTF-16 (it starts with a UTF-16 byte order mark): "
        "save it as UTF-8 or cp932"
    )
    assert importer.refused("products", path) == [line]
    assert failed_batch("products").errors == line
    assert Product.objects.count() == 0


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_file_without_a_bom_is_refused_as_a_whole(importer, codec):
    path = write_bytes(importer, f"{PRODUCTS_HEADER}\nSTD,Standard,0\n".encode(codec))
    assert importer.refused("products", path) == [
        f"{path}: the header row holds NUL bytes: the file looks like UTF-16 or binary; "
        "save it as UTF-8 or cp932"
    ]
    failed_batch("products")
    assert Product.objects.count() == 0


def test_bytes_of_no_encoding_are_an_error_line(importer):
    # An overlong UTF-8 sequence, then a cp932 lead byte without its trail byte.
    path = write_bytes(importer, PRODUCTS_HEADER.encode() + b"\nSTD,\xc0\xaf\x81 ,0\n")
    assert importer.refused("products", path) == [
        f"{path}:2: column -: value 'c0 af 81 20': cannot be read as utf-8 or cp932 "
        "(give --encoding?)"
    ]
    failed_batch("products")


def test_control_characters_never_break_an_error_line(importer):
    path = write_bytes(
        importer, f"{PRODUCTS_HEADER}\nSTD,日専連カード,\x1c\u2028\x85\x0b\n".encode()
    )
    assert importer.refused("products", path) == [
        f"{path}:2: column program_excluded: value '\\x1c\\u2028\\x85\\x0b': must be 0 or 1"
    ]


# --- numbers and texts too big for their column -----------------------------------------------


@pytest.mark.parametrize("column", ["use_amount", "billed_amount"])
def test_a_20_digit_amount_is_too_large_for_the_column(importer, members, column):
    path = importer.write(USAGE_HEADER, usage_row(**{column: TWENTY_NINES}))
    assert importer.refused("usage", path) == [
        f"{path}:2: column {column}: value '{TWENTY_NINES}': too large: at most {BIGINT_MAX}"
    ]
    failed_batch("usage")
    assert UsageLine.objects.count() == 0


def test_a_negative_20_digit_amount_is_too_small_for_the_column(importer, members):
    path = importer.write(USAGE_HEADER, usage_row(use_amount="-" + TWENTY_NINES))
    assert importer.refused("usage", path) == [
        f"{path}:2: column use_amount: value '-{TWENTY_NINES}': too small: at least "
        "-9,223,372,036,854,775,808"
    ]


def test_an_amount_of_thousands_of_digits_is_an_error_line(importer, members):
    path = importer.write(USAGE_HEADER, usage_row(use_amount="9" * 5000))
    assert importer.refused("usage", path) == [
        f"{path}:2: column use_amount: value '{'9' * 57}...': too large: at most {BIGINT_MAX}"
    ]


def test_the_largest_amount_the_column_holds_is_kept(importer, members):
    path = importer.write(USAGE_HEADER, usage_row(use_amount="9223372036854775807"))
    importer.run("usage", path)
    assert UsageLine.objects.get().use_amount == 9223372036854775807


@pytest.mark.parametrize("column", ["balance", "expiring_points"])
def test_a_20_digit_points_value_is_too_large_for_the_column(importer, members, column):
    values = {"balance": "100", "expiring_points": "0"} | {column: TWENTY_NINES}
    path = importer.write(
        POINTS_HEADER, f"M0000001,2025-03-31,{values['balance']},{values['expiring_points']},"
    )
    assert importer.refused("points", path) == [
        f"{path}:2: column {column}: value '{TWENTY_NINES}': too large: at most {BIGINT_MAX}"
    ]
    failed_batch("points")
    assert PointBalance.objects.count() == 0


def test_an_email_longer_than_its_column_is_an_error_line(importer):
    importer.products()
    email = "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".jp"
    path = importer.write(MEMBERS_HEADER, member_row(email=email))
    assert importer.refused("members", path) == [
        f"{path}:2: column email: value '{email[:57]}...': longer than 254 characters"
    ]
    assert Member.objects.count() == 0


def test_a_current_hash_longer_than_the_password_column_is_an_error_line(importer, members):
    path = importer.write(
        ENROLLMENTS_HEADER,
        f"M0000001,Taro.Morioka,scrypt${'a' * 200},さくら,taro@example.jp,2023-06-01 10:30:00",
    )
    assert importer.refused("enrollments", path) == [
        f"{path}:2: column password_hash: value '…': longer than 128 characters"
    ]
    assert Account.objects.count() == 0


@pytest.mark.parametrize("moment", ["0001-01-01 00:00:00+09:00", "9999-12-31 23:59:59-09:00"])
def test_a_moment_that_is_no_time_in_utc_is_an_error_line(importer, members, moment):
    hashed = PBKDF2PasswordHasher().encode("legacy-pass-2024", "fixedsalt123", iterations=1000)
    path = importer.write(
        ENROLLMENTS_HEADER, f"M0000001,Taro.Morioka,{hashed},さくら,taro@example.jp,{moment}"
    )
    assert importer.refused("enrollments", path) == [
        f"{path}:2: column enrolled_at: value '{moment}': out of range (years 1 to 9999 in UTC)"
    ]
    assert Account.objects.count() == 0


# --- card numbers where none belongs ----------------------------------------------------------


def test_a_card_number_in_an_extra_members_column_is_masked(importer):
    importer.products()
    path = importer.write(MEMBERS_HEADER, member_row() + "," + LUHN_CARD)
    lines = importer.refused("members", path)
    assert lines == [
        f"{path}:2: column #17: value '****-****-****-5670': extra field: the row has 17 fields, "
        "the header 16"
    ]
    assert LUHN_CARD not in failed_batch("members").errors


def test_a_card_number_in_an_over_long_merchant_is_masked(importer, members):
    merchant = f"カード {LUHN_CARD[:4]}-{LUHN_CARD[4:8]}-{LUHN_CARD[8:12]}-{LUHN_CARD[12:]} " + (
        "あ" * 200
    )
    path = importer.write(USAGE_HEADER, usage_row(merchant=merchant))
    shown = ("カード ****-****-****-5670 " + "あ" * 200)[:57] + "..."
    assert importer.refused("usage", path) == [
        f"{path}:2: column merchant: value '{shown}': longer than 200 characters"
    ]


def test_a_card_number_in_a_re_sent_note_is_masked(importer, members):
    importer.run("usage", importer.write(USAGE_HEADER, usage_row(note="お届け先変更")))
    spaced = " ".join(LUHN_CARD[i : i + 4] for i in range(0, 16, 4))
    path = importer.write(USAGE_HEADER, usage_row(note=spaced))
    lines = importer.refused("usage", path)
    assert lines == [
        f"{path}:2: column note: value '****-****-****-5670': line 1 of 2025-01 was imported "
        "before with 'お届け先変更': a billed line is never rewritten (send a correction as a "
        "line of a later month)"
    ]
    stored = ImportBatch.objects.get(kind="usage", status=ImportBatch.Status.FAILED).errors
    assert "5670" in stored and spaced not in stored and LUHN_CARD not in stored


def test_a_card_number_in_a_differing_member_field_is_masked(importer):
    importer.products()
    path = importer.write(
        MEMBERS_HEADER,
        member_row("M0000001", CARD_1, name=f"盛岡 {LUHN_CARD}"),
        member_row("M0000001", CARD_2, name="盛岡 太郎"),
    )
    assert importer.refused("members", path) == [
        f"{path}:3: column name_kanji: value '盛岡 太郎': differs from line 2 of the same "
        "member_no ('盛岡 ****-****-****-5670'): member fields must agree on every card row"
    ]


# --- errors nobody expected --------------------------------------------------------------------


def test_an_unexpected_error_ends_the_batch_failed_in_one_line(importer, monkeypatch):
    def broken(**_kwargs):
        raise RuntimeError(f"boom {LUHN_CARD}\nsecond line")

    monkeypatch.setattr(products, "load", broken)
    path = importer.write(PRODUCTS_HEADER, "STD,日専連カード,0")
    line = (
        f"{path}: the import stopped on an unexpected error, nothing was kept "
        "(RuntimeError: boom ****-****-****-5670)"
    )
    assert importer.refused("products", path) == [line]
    assert failed_batch("products").errors == line
    assert Product.objects.count() == 0


def test_the_command_line_prints_one_line_per_problem_and_no_traceback(importer, tmp_path):
    db = tmp_path / "cli.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "MEISAI_LOG_LEVEL": "WARNING"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "meisai.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )

    assert run("migrate", "-v0").returncode == 0
    nul = write_bytes(importer, f"{PRODUCTS_HEADER}\nSTD,日専連\x00,0\nGOLD,,2\n".encode(), "n.csv")
    failed = run("import", "products", str(nul))
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.splitlines() == [
        f"CommandError: {nul}:2: column name: value '日専連\\x00': contains a NUL character: "
        "not text (a UTF-16 or binary file?)",
        f"{nul}:3: column name: value '': empty: a value is required",
        f"{nul}:3: column program_excluded: value '2': must be 0 or 1",
        f"{nul}: 3 problem(s); nothing was imported",
    ]


def test_an_unreadable_path_is_one_line(importer, tmp_path):
    with pytest.raises(CommandError) as caught:
        importer.run("products", tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot be read (IsADirectoryError)"
