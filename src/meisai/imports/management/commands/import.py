"""``meisai import KIND FILE``: load one file of the core system (SPEC 4.1, 4.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.core.jobs import job_dispatch
from meisai.imports.models import ImportBatch
from meisai.imports.reading import ENCODINGS, ImportRefused
from meisai.imports.services import default_actor, import_file
from meisai.imports.tasks import import_file_task


class Command(BaseCommand):
    help = (
        "Import a file from the core card system: products, members, enrollments, usage, "
        "points or balances (CSV, UTF-8 or cp932). The file is imported whole or not at all; "
        "each problem is one line (FILE:LINE: column C: value 'V': what is wrong) and the exit "
        "status is 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=ImportBatch.Kind.values)
        parser.add_argument("file", help="CSV file with a header row")
        parser.add_argument(
            "--encoding",
            choices=ENCODINGS,
            help="default: detected (UTF-8 with or without BOM, else cp932)",
        )
        parser.add_argument("--dry-run", action="store_true", help="check everything, keep nothing")
        parser.add_argument("--actor", help="who runs the import (default: the OS user)")
        parser.add_argument(
            "--append",
            action="store_true",
            help="usage: add lines to billing months that an earlier file already filled "
            "(refused otherwise; recorded in the audit trail)",
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="hand the file to the workers and return (they must read the same path; "
            "follow it as a job in the back office)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["queue"]:
            self._queue(options)
            return
        try:
            outcome = import_file(
                kind=options["kind"],
                path=options["file"],
                encoding=options["encoding"],
                dry_run=options["dry_run"],
                actor=options["actor"],
                progress=options["verbosity"] > 0,
                append=options["append"],
            )
        except FileNotFoundError as error:
            raise CommandError(f"{options['file']}: no such file") from error
        except OSError as error:
            # A directory, no permission, a disk error: one line, like every other problem.
            raise CommandError(
                f"{options['file']}: cannot be read ({type(error).__name__})"
            ) from error
        except KeyboardInterrupt as interrupted:
            # The batch was ended failed already; the operator gets a line, not a traceback.
            message = f"{options['file']}: interrupted; nothing was imported"
            raise CommandError(message) from interrupted
        except ImportRefused as refused:
            lines = refused.problems.lines
            raise CommandError(
                "\n".join(
                    [*lines, f"{options['file']}: {len(lines)} problem(s); nothing was imported"]
                )
            ) from refused
        batch, counts = outcome.batch, outcome.counts
        if outcome.already_imported is not None:
            previous = outcome.already_imported
            self.stdout.write(
                f"{options['file']}: already imported (batch {previous.pk}, "
                f"{previous.started_at:%Y-%m-%d %H:%M}); nothing changed"
            )
            return
        verb = "checked (dry run, nothing kept)" if options["dry_run"] else "imported"
        self.stdout.write(
            f"{options['file']}: {verb}: {counts.rows} rows; {counts.unit}: {counts.inserted} new, "
            f"{counts.updated} updated, {counts.unchanged} unchanged (batch {batch.pk}, "
            f"{batch.encoding})"
        )

    def _queue(self, options: dict[str, Any]) -> None:
        if options["dry_run"]:
            raise CommandError("--queue and --dry-run do not go together: a dry run reports here")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{options['file']}: no such file")
        job = job_dispatch(
            import_file_task,
            kind="import",
            args={
                "kind": options["kind"],
                "path": str(path.resolve()),
                "encoding": options["encoding"],
                **({"append": True} if options["append"] else {}),
            },
            actor=options["actor"] or default_actor(),
        )
        self.stdout.write(f"{options['file']}: queued as job {job.pk}")
