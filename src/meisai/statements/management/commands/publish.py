"""``meisai publish YYYY-MM``: make a closed month visible and queue the 請求額確定 emails."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.billing_calendar import BillingMonth
from meisai.core.jobs import job_dispatch
from meisai.statements.management.monthly import (
    actor_of,
    database_failure_as_one_line,
    month_of,
    monthly_arguments,
)
from meisai.statements.publish import PublishRefused, statement_publish, statement_publish_check
from meisai.statements.tasks import statement_publish_task


class Command(BaseCommand):
    help = (
        "Publish a closed billing month: statements become visible online and every member with "
        "a web account gets the 請求額確定 email once (running it again sends nothing twice). A "
        "month before the service start is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        monthly_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        month, actor = month_of(options), actor_of(options)
        # Publication and its emails are one transaction: nothing was published or queued, and
        # running it again does all of it, each email once.
        with database_failure_as_one_line(
            f"{month.label}の公開はデータベースのエラーで中断し、何も公開していません(再実行できます)"
        ):
            self._publish(month, actor, options)

    def _publish(self, month: BillingMonth, actor: str, options: dict[str, Any]) -> None:
        if options["queue"]:
            try:
                statement_publish_check(month=month)
            except PublishRefused as error:
                raise CommandError(str(error)) from error
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
