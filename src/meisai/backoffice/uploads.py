"""Import files uploaded in the console: kept safely, then imported by a worker.

* **Size.** ``MEISAI_IMPORT_UPLOAD_MAX_BYTES`` (``MEISAI_IMPORT_UPLOAD_MAX_MB``, default 200).
  :class:`CappedUploadHandler` stops reading the request as soon as it passes the cap (a
  declared ``Content-Length`` over it is not read at all), so an oversized file never fills the
  disk; :func:`upload_store` checks the size again.
* **Where.** ``MEDIA_ROOT/imports/<uuid>.csv`` (``MEDIA_ROOT`` is never served), under a name
  meisai makes, readable by the application only: the browser's file name is kept as text, for
  the report, and never used as a path.
* **What.** Text, not binary: a NUL byte, a UTF-16 byte order mark, the opening bytes of a ZIP
  (an .xlsx), an old Excel file, a PDF or an image, or bytes that are neither UTF-8 nor cp932 are
  refused before anything is stored. The importer refuses such files too, line by line; this
  only spares an operator a useless job.
* **Run.** :func:`upload_import` is what the worker runs (``backoffice.tasks``): the importer's
  ``import_file``, plus what the console needs around it — the months of a usage file and which
  of them already hold imported lines (a re-import, which needs a second staff member's
  approval: ``backoffice.approvals``), and the counts the job page shows.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from meisai.imports.models import ImportBatch
from meisai.imports.reading import ImportRefused, half
from meisai.imports.services import import_file
from meisai.statements.models import UsageLine

_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}", re.ASCII)

#: How much of a file the sniffing reads.
SNIFF_BYTES = 64 * 1024

#: Opening bytes of the binary files people save by mistake instead of a CSV.
_BINARY_MAGIC = {
    b"PK\x03\x04": "ZIP / Excel (.xlsx)",
    b"\xd0\xcf\x11\xe0": "Excel (.xls)",
    b"%PDF": "PDF",
    b"\x89PNG": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF8": "GIF",
    b"\x1f\x8b": "gzip",
}


class UploadRefused(ValueError):
    """The uploaded file is not kept; the message says why, in Japanese."""


class ImportNeedsApproval(ValueError):
    """A usage file for a month that already holds imported lines: a second staff member must
    approve it (``backoffice.approvals``)."""


def max_bytes() -> int:
    return int(settings.MEISAI_IMPORT_UPLOAD_MAX_BYTES)


class CappedUploadHandler(FileUploadHandler):
    """First of a console upload's handlers: stops the upload past :func:`max_bytes`."""

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.received = 0
        self.too_large = False

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        # The multipart envelope adds a little to the file; a declared length well past the
        # cap is refused without reading it.
        if content_length > max_bytes() + 64 * 1024:
            self.too_large = True
            raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received = start + len(raw_data)
        if self.received > max_bytes():
            self.too_large = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@dataclass(frozen=True)
class StoredUpload:
    path: Path
    #: The browser's name of the file, as text (for the report only).
    name: str
    size: int
    sha256: str


def uploads_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def _sniff(head: bytes) -> None:
    """Refuse what is plainly not a CSV text file (see the module's docstring)."""
    if not head:
        raise UploadRefused("ファイルが空です。")
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise UploadRefused(
                f"{what} のファイルです。CSV(UTF-8 または cp932)で保存してください。"
            )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UploadRefused("UTF-16 のファイルです。UTF-8 または cp932 で保存してください。")
    if b"\x00" in head:
        raise UploadRefused("バイナリファイルです(NUL 文字を含みます)。CSV を選んでください。")
    for encoding in ("utf-8", "cp932"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            # Not final: the sample may end in the middle of a character.
            decoder.decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return
    raise UploadRefused("UTF-8 でも cp932 でも読めないファイルです。CSV を選んでください。")


def upload_store(*, uploaded: UploadedFile) -> StoredUpload:
    """Keep an uploaded import file under a generated name; :class:`UploadRefused` when it is
    too large or not text. Writes a file, no row: the job that imports it is the record."""
    size = uploaded.size or 0
    if size > max_bytes():
        raise UploadRefused(f"ファイルが大きすぎます(上限 {max_bytes() // (1024 * 1024)} MB)。")
    chunks = uploaded.chunks()
    first = b""
    for chunk in chunks:
        first += chunk
        if len(first) >= SNIFF_BYTES:
            break
    _sniff(first[:SNIFF_BYTES])
    directory = uploads_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.csv"
    written = 0
    digest = hashlib.sha256(first)
    # O_EXCL: a generated name is never an existing file; 0600: the application's alone.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(first)
        written += len(first)
        for chunk in chunks:
            written += len(chunk)
            if written > max_bytes():
                handle.close()
                path.unlink(missing_ok=True)
                raise UploadRefused(
                    f"ファイルが大きすぎます(上限 {max_bytes() // (1024 * 1024)} MB)。"
                )
            handle.write(chunk)
            digest.update(chunk)
    name = Path(uploaded.name or "upload.csv").name[:200]
    return StoredUpload(path=path, name=name, size=written, sha256=digest.hexdigest())


def usage_file_months(path: str | Path) -> list[str]:
    """The billing months a usage file names (``YYYY-MM``, sorted); [] when it cannot be read,
    which the importer then reports line by line. Read as a stream: the file may be large."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            with open(path, encoding=encoding, newline="") as handle:
                reader = csv.reader(handle)
                header = [half(name).strip() for name in next(reader, [])]
                if "billing_month" not in header:
                    return []
                column = header.index("billing_month")
                months = {half(row[column]).strip() for row in reader if len(row) > column}
        except UnicodeDecodeError:
            continue
        except csv.Error:
            return []
        return sorted(m for m in months if _MONTH.fullmatch(m))
    return []


def months_already_imported(months: list[str]) -> list[str]:
    """Of ``months``, those that already hold imported usage lines."""
    return sorted(
        str(month)
        for month in UsageLine.objects.filter(billing_month__in=months)
        .values_list("billing_month", flat=True)
        .distinct()
    )


def needs_approval_message(reimport: list[str], *, append: bool) -> str:
    if append:
        return "追加取込(--append)には別のスタッフの承認が必要です。"
    return f"{'、'.join(reimport)} は取込済みです。再取込には別のスタッフの承認が必要です。"


def import_report_counts(batch: ImportBatch | None) -> dict[str, Any]:
    if batch is None:
        return {}
    return {
        "batch": batch.pk,
        "status": batch.status,
        "rows": batch.rows,
        "inserted": batch.inserted,
        "updated": batch.updated,
        "problems": batch.error_count,
    }


def upload_import(
    *,
    kind: str,
    path: str,
    name: str,
    actor: str,
    encoding: str | None = None,
    dry_run: bool = False,
    append: bool = False,
    approved: bool = False,
) -> dict[str, Any]:
    """Import (or dry-run) a stored upload and return the counts its job records.

    A refused file is no exception here: its batch holds the problem lines, the counts say
    ``status: failed``. A usage file for a month that already holds imported lines, and an
    ``append`` import (the importer's ``--append``: lines added to such a month), are imported
    only when ``approved`` (a second staff member's approval); otherwise
    :class:`ImportNeedsApproval`. The dry run says which months those are (``reimport``)."""
    months = usage_file_months(path) if kind == ImportBatch.Kind.USAGE else []
    reimport = months_already_imported(months) if months else []
    if (reimport or append) and not dry_run and not approved:
        raise ImportNeedsApproval(needs_approval_message(reimport, append=append))
    base = {
        "name": name,
        "kind": kind,
        "dry_run": dry_run,
        "append": append,
        "months": months,
        "reimport": reimport,
    }
    try:
        outcome = import_file(
            kind=kind,
            path=path,
            encoding=encoding,
            dry_run=dry_run,
            actor=actor,
            progress=False,
            append=append,
        )
    except ImportRefused:
        batch = (
            ImportBatch.objects.filter(kind=kind, file_name=str(path)[-255:])
            .order_by("-id")
            .first()
        )
        return {**base, **import_report_counts(batch), "status": ImportBatch.Status.FAILED}
    counts = outcome.counts
    return {
        **base,
        **import_report_counts(outcome.batch),
        "unit": counts.unit,
        "unchanged": counts.unchanged,
        "already_imported": outcome.already_imported.pk if outcome.already_imported else None,
        "encoding": outcome.batch.encoding,
    }
