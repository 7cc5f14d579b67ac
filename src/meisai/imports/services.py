"""Importing the core system's files (SPEC 4.3): one entry point for every kind.

``import_file`` reads the file, refuses a file imported before (same kind, same SHA-256) as a
no-op, decodes it, checks the header, hands the rows to the kind's format module and records an
``ImportBatch`` whatever happens. The format module's writes run in one transaction: one bad row
and nothing from the file is kept.

Whatever the file holds, an import ends in one of two ways: an ``ImportOutcome``, or
:class:`ImportRefused` with one line per problem, its batch ended failed with those lines. An
error nobody foresaw (a bug, a database error) is no exception to that: the transaction undoes
every row, the batch ends failed with one line naming the error, and ``ImportRefused`` carries
that line to the caller; no batch is ever left running and no traceback reaches an operator.

An import that keeps its rows writes its audit row (``import_<kind>``: file, SHA-256, counts,
batch) in that same transaction, so the rows and their record commit or roll back together. A
run that keeps nothing — a dry run, a refused file, the same file again — has nothing to audit;
its ``ImportBatch`` is the record of it.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from django.db import IntegrityError, transaction

from meisai.accounts.enrollments import enrollments_revoke_without_card
from meisai.audit.services import audit_record
from meisai.clock import now
from meisai.core.jobs import connection_reopen_if_lost
from meisai.core.progress import progress_report
from meisai.imports.formats import (
    Counts,
    ParsedFile,
    balances,
    enrollments,
    members,
    points,
    products,
    usage,
)
from meisai.imports.models import ImportBatch
from meisai.imports.reading import (
    STORED_PROBLEMS,
    ImportRefused,
    Problems,
    csv_rows,
    data_rows,
    decode,
    read_header,
)

logger = logging.getLogger(__name__)

FORMATS: dict[str, ModuleType] = {
    ImportBatch.Kind.PRODUCTS: products,
    ImportBatch.Kind.MEMBERS: members,
    ImportBatch.Kind.ENROLLMENTS: enrollments,
    ImportBatch.Kind.USAGE: usage,
    ImportBatch.Kind.POINTS: points,
    ImportBatch.Kind.BALANCES: balances,
}


@dataclass(frozen=True)
class ImportOutcome:
    batch: ImportBatch
    counts: Counts
    #: The batch that imported this very file before (the import was a no-op), if any.
    already_imported: ImportBatch | None = None


class _DryRunRollback(Exception):
    """Raised inside the transaction to undo a dry run after everything was checked."""


def default_actor() -> str:
    """Who runs an import when ``--actor`` is not given: the operating-system user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def import_file(
    *,
    kind: str,
    path: str | Path,
    encoding: str | None = None,
    dry_run: bool = False,
    actor: str | None = None,
    progress: bool = True,
    append: bool = False,
) -> ImportOutcome:
    """Import one file of ``kind``; raise :class:`ImportRefused` (after recording the failed
    batch) when any row is wrong or the import fails for any other reason. ``append``: a usage
    file may add lines to months an earlier file filled (the audit row says so)."""
    fmt = FORMATS[kind]
    # The name as a person reads it: a path of undecodable bytes keeps them escaped.
    name = os.fsencode(path).decode("utf-8", errors="backslashreplace")
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    batch = ImportBatch(
        kind=kind,
        file_name=name[-255:],
        file_sha256=digest,
        actor=(actor or default_actor())[:150],
        started_at=now(),
    )
    previous = _imported_before(kind, digest)
    if previous is not None:
        return _record_unchanged(batch, previous)

    problems = Problems(name)
    try:
        return _import(
            fmt,
            batch,
            data,
            encoding=encoding,
            dry_run=dry_run,
            progress=progress,
            problems=problems,
            append=append,
        )
    except ImportRefused:
        _record_failure(batch, problems)
        raise
    except IntegrityError as error:
        # The same file was imported by someone else meanwhile (file_imported_once).
        previous = _imported_before(kind, digest)
        if previous is None:
            raise _refuse_unexpected(batch, problems, error) from error
        return _record_unchanged(batch, previous)
    except Exception as error:
        # The one place that catches everything, on purpose: whatever went wrong, the
        # transaction has undone the rows, and the batch must not stay "running" for ever.
        raise _refuse_unexpected(batch, problems, error) from error
    except KeyboardInterrupt:
        problems.add_file("the import was interrupted; nothing was kept")
        _record_failure(batch, problems)
        raise


def _import(
    fmt: ModuleType,
    batch: ImportBatch,
    data: bytes,
    *,
    encoding: str | None,
    dry_run: bool,
    progress: bool,
    problems: Problems,
    append: bool,
) -> ImportOutcome:
    """Decode, check and load the file in one transaction; :class:`ImportRefused` when any
    problem was found (the caller records the failed batch)."""
    text, batch.encoding = decode(data, encoding=encoding, problems=problems)
    batch.save()
    reader = csv_rows(text)
    header = read_header(reader, required=fmt.REQUIRED, optional=fmt.OPTIONAL, problems=problems)
    try:
        with (
            progress_report(
                f"取込 {batch.kind}", total=text.count("\n"), enabled=progress
            ) as advance,
            transaction.atomic(),
        ):
            parsed = ParsedFile(
                name=problems.file_name,
                header=header,
                rows=data_rows(reader, header, problems, nul_possible="\x00" in text),
                problems=problems,
                size_hint=len(data),
                advance=advance,
                text=text,
                append=append,
            )
            counts = fmt.load(file=parsed, batch=batch)
            if problems:
                raise ImportRefused(problems)
            enrollments_revoke_without_card(import_kind=batch.kind, actor=batch.actor)
            _finish(
                batch, counts, ImportBatch.Status.DRY_RUN if dry_run else ImportBatch.Status.DONE
            )
            if dry_run:
                # A dry run keeps nothing, so it writes no audit row: the rollback undoes the
                # rows it checked, and its batch (saved after the rollback) records the run.
                raise _DryRunRollback
            _audit_import(batch, append=append)
    except _DryRunRollback:
        batch.save()
    return ImportOutcome(batch=batch, counts=counts)


def _imported_before(kind: str, digest: str) -> ImportBatch | None:
    """The batch that imported this very file (same kind, same SHA-256), if any."""
    return (
        ImportBatch.objects.filter(kind=kind, file_sha256=digest, status=ImportBatch.Status.DONE)
        .order_by("-started_at")
        .first()
    )


def _refuse_unexpected(batch: ImportBatch, problems: Problems, error: Exception) -> ImportRefused:
    """End the batch failed with one line naming ``error``, and the refusal that carries it."""
    problems.add_file(
        f"the import stopped on an unexpected error, nothing was kept ({_one_line(error)})"
    )
    _record_failure(batch, problems)
    # One line for the operator; the traceback only for whoever debugs (MEISAI_LOG_LEVEL=DEBUG),
    # masked like every log line.
    logger.error("import batch %s: %s", batch.pk, problems.lines[0])
    logger.debug("import batch %s: the unexpected error", batch.pk, exc_info=error)
    return ImportRefused(problems)


def _one_line(error: Exception) -> str:
    """``Type: first line of the message``, at most 200 characters of it."""
    text = str(error).strip()
    first = text.splitlines()[0][:200] if text else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _finish(batch: ImportBatch, counts: Counts, status: str) -> None:
    batch.status = status
    batch.rows, batch.inserted, batch.updated = counts.rows, counts.inserted, counts.updated
    batch.finished_at = now()
    batch.save()


def _audit_import(batch: ImportBatch, *, append: bool) -> None:
    """The audit row of a kept import, from what its batch records. Written inside the import's
    transaction: whatever undoes the rows afterwards undoes this row with them."""
    audit_record(
        actor=batch.actor,
        action=f"import_{batch.kind}",
        detail={
            "file": batch.file_name,
            "sha256": batch.file_sha256,
            "counts": {"rows": batch.rows, "inserted": batch.inserted, "updated": batch.updated},
            "batch": batch.pk,
            **({"append": True} if append else {}),
        },
    )


def _record_unchanged(batch: ImportBatch, previous: ImportBatch) -> ImportOutcome:
    batch.status = ImportBatch.Status.UNCHANGED
    batch.encoding = previous.encoding
    batch.rows = previous.rows
    batch.finished_at = now()
    batch.errors = f"imported before by batch {previous.pk}"
    batch.save()
    return ImportOutcome(batch=batch, counts=Counts(rows=previous.rows), already_imported=previous)


def _record_failure(batch: ImportBatch, problems: Problems) -> None:
    # The failure may be the connection's own (a server restart): record it on a fresh one.
    connection_reopen_if_lost()
    batch.status = ImportBatch.Status.FAILED
    batch.rows = batch.inserted = batch.updated = 0
    batch.error_count = len(problems)
    batch.errors = "\n".join(problems.lines[:STORED_PROBLEMS])
    batch.finished_at = now()
    batch.save()
