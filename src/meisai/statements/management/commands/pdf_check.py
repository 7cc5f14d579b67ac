"""``meisai pdf_check YYYY-MM [--queue]``: render every statement PDF of a month and check it."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.billing_calendar import BillingMonth
from meisai.core.jobs import job_dispatch
from meisai.statements.pdf import statements_pdf_render
from meisai.statements.tasks import statements_pdf_render_task


class Command(BaseCommand):
    help = (
        "Render the PDF of every statement of a billing month and compare it with the SHA-256 "
        "recorded when it was first served (recording it where none is). Run it before the "
        "confirmation day to have every fingerprint ready, and after a restore to prove the "
        "statements are the ones issued. Exits non-zero when a PDF differs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("month", help="billing month YYYY-MM")
        parser.add_argument("--actor", default="", help="operator name for the record")
        parser.add_argument(
            "--queue", action="store_true", help="hand the work to the workers and return"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            month = BillingMonth.parse(options["month"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        actor = options["actor"] or f"cli:{getpass.getuser()}"
        if options["queue"]:
            job = job_dispatch(
                statements_pdf_render_task,
                kind="pdf_render",
                args={"month": str(month)},
                actor=actor,
            )
            self.stdout.write(f"{month.label}: PDFの確認をジョブ {job.pk} として受け付けました。")
            return
        counts = statements_pdf_render(month=month)
        self.stdout.write(
            f"{month.label}: PDF {counts['rendered']:,}件 (記録 {counts['recorded']:,} / "
            f"一致 {counts['verified']:,} / 不一致 {counts['mismatched']:,})"
        )
        if counts["mismatched"]:
            raise CommandError(
                f"{month.label}: {counts['mismatched']:,}件のPDFが記録されたSHA-256と一致しません。"
            )
