"""``meisai close YYYY-MM [--dry-run] [--force]``: the monthly close (SPEC 3.6)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.billing_calendar import BillingMonth
from meisai.core.jobs import job_dispatch
from meisai.statements.close import CloseRefused, statement_close, statement_close_check
from meisai.statements.management.monthly import (
    actor_of,
    database_failure_as_one_line,
    month_of,
    monthly_arguments,
)
from meisai.statements.tasks import statement_close_task


class Command(BaseCommand):
    help = (
        "Close a billing month: build every statement from the imported usage lines, decide web "
        "or paper, add paper fees, grant campaign points, confirm. A confirmed month is left "
        "unchanged. A month before the service start is refused; so is a month while an earlier "
        "month with usage lines is still open, unless --force. --dry-run prints the figures and "
        "writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        monthly_arguments(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="compute and print, write nothing"
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="close although an earlier month with usage lines is still open (recorded in "
            "the audit trail)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        month, actor = month_of(options), actor_of(options)
        force = bool(options["force"])
        # Nothing was confirmed: the close is one transaction, and its month records the failure.
        with database_failure_as_one_line(
            f"{month.label}の締めはデータベースのエラーで中断し、確定していません(再実行できます)"
        ):
            self._close(month, actor, force, options)

    def _close(self, month: BillingMonth, actor: str, force: bool, options: dict[str, Any]) -> None:
        if options["queue"]:
            try:
                statement_close_check(month=month, force=force)
            except CloseRefused as error:
                raise CommandError(str(error)) from error
            job = job_dispatch(
                statement_close_task,
                kind="close",
                args={
                    "month": str(month),
                    "dry_run": options["dry_run"],
                    **({"force": True} if force else {}),
                },
                actor=actor,
            )
            self.stdout.write(f"{month.label}: 締め処理をジョブ {job.pk} として受け付けました。")
            return
        try:
            result = statement_close(
                month=month, actor=actor, dry_run=options["dry_run"], force=force
            )
        except CloseRefused as error:
            raise CommandError(str(error)) from error
        for line in result.report_lines():
            self.stdout.write(line)
