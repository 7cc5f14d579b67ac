"""``meisai pdf_check YYYY-MM [--queue]``: render every statement PDF of a month and check it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.core.jobs import job_dispatch
from meisai.statements.management.monthly import actor_of, month_of, monthly_arguments
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
        monthly_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        month, actor = month_of(options), actor_of(options)
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
