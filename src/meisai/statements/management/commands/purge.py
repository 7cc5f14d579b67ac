"""``meisai purge --before YYYY-MM [--execute]``: archive, then drop, the months past their
retention (``meisai.statements.purge``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.billing_calendar import BillingMonth
from meisai.statements.management.monthly import actor_of, database_failure_as_one_line
from meisai.statements.purge import PurgeRefused, statements_purge


class Command(BaseCommand):
    help = (
        "Archive and drop the usage lines, statements and balances of every billing month "
        "before --before. Without --execute, a dry run: it prints the months and their rows and "
        "changes nothing. With --execute it writes one gzip JSON-lines archive with its SHA-256 "
        "to MEISAI_ARCHIVE_DIR, reads it back to verify it, and only then drops the months (on "
        "PostgreSQL, their partitions, as the owner role). It refuses a month that members may "
        "still see or that is inside MEISAI_RETENTION_MONTHS. Recorded in the audit trail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, help="the first billing month kept, YYYY-MM")
        parser.add_argument(
            "--execute",
            action="store_true",
            help="archive and drop for real (the default is a dry run)",
        )
        parser.add_argument("--actor", default="", help="operator name for the record")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            before = BillingMonth.parse(options["before"])
        except ValueError as error:
            raise CommandError(
                f"--before は2014-04のようにYYYY-MMで指定してください: {options['before']!r}"
            ) from error
        with database_failure_as_one_line(
            "削除はデータベースのエラーで中断し、何も削除していません(再実行できます)"
        ):
            try:
                result = statements_purge(
                    before=before, actor=actor_of(options), execute=bool(options["execute"])
                )
            except PurgeRefused as error:
                raise CommandError(str(error)) from error
        for line in result.report_lines():
            self.stdout.write(line)
