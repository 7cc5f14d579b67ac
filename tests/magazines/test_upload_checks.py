"""会員情報誌 uploads are checked by content (SPEC 3.8): a PDF only (``%PDF-`` … ``%%EOF``), within
``MEISAI_MAGAZINE_MAX_BYTES``, stored under a random name, audited; anything else gets a Japanese
form error and nothing is stored or audited."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from meisai.audit.models import AuditEntry
from meisai.backoffice.roles import Role
from meisai.magazines.models import MagazineIssue
from meisai.magazines.services import NOT_A_PDF_ERROR, magazine_issue_upload
from tests.backoffice.conftest import signed_in, staff_account

pytestmark = pytest.mark.django_db

ADD = "/backoffice/admin/magazines/magazineissue/add/"
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
HTML = b"<!doctype html><html><script>alert(1)</script></html>"


@pytest.fixture
def administrator() -> Client:
    """An administrator signed in to the console (password and TOTP code passed)."""
    return signed_in(staff_account(Role.ADMINISTRATOR, login_id="admin-magazines"))


def _upload(browser: Client, name: str, data: bytes, content_type: str = "application/pdf"):
    return browser.post(
        ADD,
        {
            "title": "夏号",
            "month": "2025-07",
            "pdf": SimpleUploadedFile(name, data, content_type=content_type),
        },
    )


def _nothing_kept() -> None:
    assert not MagazineIssue.objects.exists()
    assert not AuditEntry.objects.filter(action="magazine_issue_upload").exists()


def test_a_pdf_is_stored_under_a_random_name_and_audited(administrator):
    response = _upload(administrator, "../../夏号 final.pdf", PDF)

    assert response.status_code == 302
    issue = MagazineIssue.objects.get()
    assert re.fullmatch(r"magazines/[0-9a-f]{32}\.pdf", issue.pdf.name)
    with issue.pdf.open("rb") as stored:
        assert stored.read() == PDF
    entry = AuditEntry.objects.get(action="magazine_issue_upload")
    assert entry.actor == "admin-magazines"
    assert entry.detail["file"] == issue.pdf.name
    assert entry.detail["issue"] == issue.pk
    assert entry.detail["size"] == len(PDF)
    assert len(entry.detail["sha256"]) == 64
    assert entry.detail["uploaded_name"].endswith("final.pdf")


def test_a_renamed_program_gets_a_japanese_error(administrator):
    response = _upload(administrator, "summer.pdf", EXE)

    assert response.status_code == 200
    assert NOT_A_PDF_ERROR in response.content.decode()
    _nothing_kept()


def test_a_web_page_named_pdf_gets_a_japanese_error(administrator):
    response = _upload(administrator, "summer.pdf", HTML, content_type="application/pdf")

    assert response.status_code == 200
    assert NOT_A_PDF_ERROR in response.content.decode()
    _nothing_kept()


def test_a_pdf_header_without_its_trailer_is_refused(administrator):
    response = _upload(administrator, "cut.pdf", PDF[:40])

    assert response.status_code == 200
    assert NOT_A_PDF_ERROR in response.content.decode()
    _nothing_kept()


def test_an_empty_file_is_refused(administrator):
    response = _upload(administrator, "empty.pdf", b"")

    assert response.status_code == 200
    _nothing_kept()


def test_a_file_over_the_cap_is_refused_naming_the_cap(administrator, settings):
    settings.MEISAI_MAGAZINE_MAX_BYTES = 1024 * 1024
    big = b"%PDF-1.7\n" + b"0" * (1024 * 1024) + b"\n%%EOF\n"

    response = _upload(administrator, "big.pdf", big)

    assert response.status_code == 200
    assert "ファイルが大きすぎます。1MB以下のPDFファイルを選択してください。" in (
        response.content.decode()
    )
    _nothing_kept()


def test_a_file_at_the_cap_is_accepted(administrator, settings):
    settings.MEISAI_MAGAZINE_MAX_BYTES = len(PDF)

    assert _upload(administrator, "exact.pdf", PDF).status_code == 302
    assert MagazineIssue.objects.count() == 1


def test_the_default_cap_is_20_megabytes():
    from django.conf import settings

    assert settings.MEISAI_MAGAZINE_MAX_BYTES == 20 * 1024 * 1024


def test_the_service_itself_refuses_what_is_not_a_pdf():
    with pytest.raises(ValidationError) as refused:
        magazine_issue_upload(
            title="夏号",
            month="2025-07",
            pdf=SimpleUploadedFile("summer.pdf", HTML, content_type="application/pdf"),
            actor="cli:admin",
        )

    assert refused.value.messages == [NOT_A_PDF_ERROR]
    _nothing_kept()
