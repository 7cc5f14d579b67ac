"""The member-magazine switch and issues (SPEC 3.8). Off by default, as in the flyer.

An upload is checked by what it holds, not by its name or the browser's content type: a PDF
starts with ``%PDF-`` and ends with the ``%%EOF`` trailer (a PDF may carry a little whitespace
or an incremental-update tail after it, so the last kilobyte is searched), and it is at most
``MEISAI_MAGAZINE_MAX_BYTES`` (``MEISAI_MAGAZINE_MAX_MB``, default 20). pypdf is only a
development dependency, so the check reads the bytes itself. The stored file is named by a
random UUID, never by the uploaded name, which is kept in the audit row only.
"""

from __future__ import annotations

import hashlib
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction

from meisai.audit.services import audit_record
from meisai.magazines.models import MagazineIssue, MagazineSettings

PDF_MAGIC = b"%PDF-"
PDF_TRAILER = b"%%EOF"
#: How far from the end the trailer is looked for.
_TRAILER_WINDOW = 1024

NOT_A_PDF_ERROR = "PDFファイルではありません。PDF形式のファイルを選択してください。"
EMPTY_ERROR = "ファイルが空です。PDF形式のファイルを選択してください。"


def magazine_max_bytes() -> int:
    return int(settings.MEISAI_MAGAZINE_MAX_BYTES)


def too_large_error() -> str:
    limit = magazine_max_bytes()
    megabytes, rest = divmod(limit, 1024 * 1024)
    shown = f"{megabytes}MB" if megabytes and not rest else f"{limit:,}バイト"
    return f"ファイルが大きすぎます。{shown}以下のPDFファイルを選択してください。"


def magazine_pdf_check(pdf: File) -> None:
    """Refuse anything but a PDF of at most the configured size, with a Japanese message."""
    size = pdf.size
    if not size:
        raise ValidationError(EMPTY_ERROR, code="empty")
    if size > magazine_max_bytes():
        raise ValidationError(too_large_error(), code="too_large")
    pdf.seek(0)
    head = pdf.read(len(PDF_MAGIC))
    pdf.seek(max(size - _TRAILER_WINDOW, 0))
    tail = pdf.read()
    pdf.seek(0)
    if head != PDF_MAGIC or PDF_TRAILER not in tail:
        raise ValidationError(NOT_A_PDF_ERROR, code="not_pdf")


def magazine_settings_get() -> MagazineSettings:
    """The single settings row, created switched off the first time it is asked for."""
    settings_row, _ = MagazineSettings.objects.get_or_create(pk=1)
    return settings_row


def magazines_enabled() -> bool:
    return MagazineSettings.objects.filter(pk=1, enabled=True).exists()


def _sha256(pdf: File) -> str:
    digest = hashlib.sha256()
    pdf.seek(0)
    for chunk in pdf.chunks():
        digest.update(chunk)
    pdf.seek(0)
    return digest.hexdigest()


@transaction.atomic
def magazine_issue_upload(*, title: str, month: str, pdf: File, actor: str) -> MagazineIssue:
    """Store an uploaded issue (会員情報誌) for members to download; audited.

    Raises ``ValidationError`` (nothing stored, nothing audited) for anything but a PDF within
    the size cap."""
    magazine_pdf_check(pdf)
    uploaded_name = pdf.name or ""
    sha256 = _sha256(pdf)
    issue = MagazineIssue(title=title, month=month, uploaded_by=actor)
    issue.pdf.save(f"{uuid.uuid4().hex}.pdf", pdf, save=False)
    issue.save()
    audit_record(
        actor=actor,
        action="magazine_issue_upload",
        detail={
            "issue": issue.pk,
            "title": title,
            "month": month,
            "file": issue.pdf.name,
            "uploaded_name": uploaded_name,
            "size": pdf.size,
            "sha256": sha256,
        },
    )
    return issue


@transaction.atomic
def magazines_switch(*, enabled: bool, actor: str) -> MagazineSettings:
    """Turn the magazine page on or off for every member; audited."""
    settings_row = magazine_settings_get()
    settings_row.enabled = enabled
    settings_row.save(update_fields=["enabled", "updated_at"])
    audit_record(actor=actor, action="magazines_switch", detail={"enabled": enabled})
    return settings_row
