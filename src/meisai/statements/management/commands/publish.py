"""``meisai publish YYYY-MM``: make a closed month visible and queue the 請求額確定 emails."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.billing_calendar import BillingMonth
from meisai.core.jobs import job_dispatch
from meisai.statements.publish import PublishRefused, statement_publish
from meisai.statements.tasks import statement_publish_task


class Command(BaseCommand):
    help = (
        "Publish a closed billing month: statements become visible online and every member with "
        "a web account gets the 請求額確定 email once (running it again sends nothing twice)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("month", help="billing month YYYY-MM")
        parser.add_argument("--actor", default="", help="operator name for the record")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="hand the work to the workers and return at once (follow it as a job in the "
            "back office)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            month = BillingMonth.parse(options["month"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        actor = options["actor"] or f"cli:{getpass.getuser()}"
        if options["queue"]:
            job = job_dispatch(
                statement_publish_task, kind="publish", args={"month": str(month)}, actor=actor
            )
            self.stdout.write(f"{month.label}: 公開をジョブ {job.pk} として受け付けました。")
            return
        try:
            result = statement_publish(month=month, actor=actor)
        except PublishRefused as error:
            raise CommandError(str(error)) from error
        for line in result.report_lines():
            self.stdout.write(line)
