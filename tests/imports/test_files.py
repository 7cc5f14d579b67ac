"""The file itself: encodings, BOM, headers, rows cut off, and the command line contract."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meisai.imports.models import ImportBatch
from meisai.members.models import Product
from meisai.statements.models import UsageLine
from tests.imports.conftest import PRODUCTS_HEADER, USAGE_HEADER, usage_row

pytestmark = pytest.mark.django_db


def test_cp932_file_is_detected(importer):
    path = importer.write(
        PRODUCTS_HEADER, "STD,日専連カード,0", "IRIS,ＩＲＩＳカード,1", encoding="cp932"
    )
    importer.run("products", path)
    assert list(Product.objects.order_by("code").values_list("code", "name")) == [
        ("IRIS", "ＩＲＩＳカード"),
        ("STD", "日専連カード"),
    ]
    assert ImportBatch.objects.get().encoding == "cp932"


def test_utf8_with_bom_is_detected(importer):
    path = importer.write(PRODUCTS_HEADER, "STD,日専連カード,0", encoding="utf-8-sig")
    importer.run("products", path)
    assert Product.objects.get().code == "STD"
    assert ImportBatch.objects.get().encoding == "utf-8-sig"


def test_encoding_can_be_given(importer):
    path = importer.write(PRODUCTS_HEADER, "STD,日専連カード,0", encoding="cp932")
    lines = importer.refused("products", path, "--encoding", "utf-8")
    assert lines == [
        f"{path}:2: column -: value '93 fa 90 ea': cannot be read as utf-8 (give --encoding?)"
    ]
    importer.run("products", path, "--encoding", "cp932")
    assert Product.objects.get().name == "日専連カード"


def test_a_file_cut_off_mid_row(importer):
    importer.products()
    importer.members()
    path = importer.tmp_path / "cut.csv"
    path.write_text(
        USAGE_HEADER + "\n" + usage_row() + "\nM0000001,2025-01,2,2024-12-0", encoding="utf-8"
    )
    assert importer.refused("usage", path) == [
        f"{path}:3: column merchant: value '': missing: the row has 4 fields, the header 11 (file cut off mid-row?)"
    ]
    assert UsageLine.objects.count() == 0


def test_an_unterminated_quote(importer):
    importer.products()
    importer.members()
    path = importer.tmp_path / "quote.csv"
    path.write_text(
        USAGE_HEADER + "\n" + usage_row() + '\nM0000001,2025-01,2,2024-12-03,"イオン',
        encoding="utf-8",
    )
    lines = importer.refused("usage", path)
    assert lines == [
        f"{path}:3: column member_no: value '': the row cannot be read (unexpected end of data): "
        "an unterminated quote, or the file was cut off"
    ]


def test_an_extra_field_and_an_empty_file(importer):
    path = importer.write(PRODUCTS_HEADER, "STD,日専連カード,0,9")
    assert importer.refused("products", path) == [
        f"{path}:2: column #4: value '9': extra field: the row has 4 fields, the header 3"
    ]
    empty = importer.tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert importer.refused("products", empty) == [
        f"{empty}:1: column -: value '': the file is empty: a header row is required"
    ]
    assert Product.objects.count() == 0


def test_the_command_line_exit_codes(importer, tmp_path):
    """``python -m meisai.cli import …`` in a subprocess: 0 on success, 1 with the problem lines."""
    db = tmp_path / "cli.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "MEISAI_LOG_LEVEL": "WARNING"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "meisai.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run("migrate", "-v0").returncode == 0
    good = importer.write(PRODUCTS_HEADER, "STD,日専連カード,0")
    done = run("import", "products", str(good), "--actor", "ops")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith(f"{good}: imported: 1 rows")
    bad = importer.write(PRODUCTS_HEADER, "STD,日専連カード,2")
    failed = run("import", "products", str(bad))
    assert failed.returncode == 1
    assert f"{bad}:2: column program_excluded: value '2': must be 0 or 1" in failed.stderr
    again = run("import", "products", str(good))
    assert again.returncode == 0 and "already imported" in again.stdout
    assert Path(db).exists()


def test_a_windows_file_cp932_with_crlf_and_full_width_digits(importer):
    from meisai import card_numbers
    from meisai.members.models import Member
    from tests.imports.conftest import MEMBERS_HEADER, member_row

    importer.products()
    row = member_row(
        "M0000001",
        "４９８０１２３４１２３４０００１",
        phone_home="０１９－６２３－１１１１",
        phone_mobile="",
        kana="ﾓﾘｵｶ ﾀﾛｳ",
    )
    path = importer.tmp_path / "windows.csv"
    path.write_bytes((MEMBERS_HEADER + "\r\n" + row + "\r\n").encode("cp932"))
    importer.run("members", path)
    member = Member.objects.get()
    assert member.name_kana == "モリオカ タロウ"
    assert list(member.phones.values_list("kind", "number")) == [("home", "0196231111")]
    assert member.cards.get().number_hash == card_numbers.card_hash("4980123412340001")
    assert ImportBatch.objects.get(kind="members").encoding == "cp932"


def test_a_queued_import_is_a_job_that_a_worker_runs(importer, django_capture_on_commit_callbacks):
    from django.core.management import call_command

    from meisai.core.models import Job

    path = importer.write(PRODUCTS_HEADER, "STD,日専連カード,0")
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import", "products", str(path), "--queue", "--actor", "op-kato", stdout=out)

    job = Job.objects.get(kind="import")
    assert out.getvalue() == f"{path}: queued as job {job.pk}\n"
    assert (job.status, job.actor, job.args) == (
        "done",
        "op-kato",
        {"kind": "products", "path": str(Path(path).resolve()), "encoding": None},
    )
    assert (job.counts["rows"], job.counts["inserted"]) == (1, 1)
    assert list(Product.objects.values_list("code", flat=True)) == ["STD"]
