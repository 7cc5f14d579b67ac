"""``meisai export KIND …``: files for the core system and the 3-D Secure ACS (SPEC 4.1).

Each kind is a small function elsewhere; this command only parses arguments and writes the file.
"""

from __future__ import annotations

import getpass
import importlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

#: kind → (module, function, help). Each function takes keyword arguments and an output path.
EXPORTS = {
    "paper-list": (
        "meisai.statements.exports",
        "export_paper_list",
        "statements going on paper (YYYY-MM)",
    ),
    "fees": ("meisai.statements.exports", "export_fees", "paper fees charged (YYYY-MM)"),
    "enrollments": (
        "meisai.accounts.exports",
        "export_enrollments",
        "本人認証サービス enrolments (--since)",
    ),
}


class Command(BaseCommand):
    help = "Write a file for the core system: paper-list YYYY-MM, fees YYYY-MM, enrollments --since DATETIME."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(EXPORTS))
        parser.add_argument("month", nargs="?", help="billing month YYYY-MM (paper-list, fees)")
        parser.add_argument("--since", help="ISO 8601 date-time, JST when no offset (enrollments)")
        parser.add_argument("-o", "--output", required=True, help="file to write")
        parser.add_argument("--encoding", default="cp932", choices=["cp932", "utf-8"])
        parser.add_argument("--actor", default="", help="operator name for the record")

    def handle(self, *args: Any, **options: Any) -> None:
        module_name, function_name, _ = EXPORTS[options["kind"]]
        export = getattr(importlib.import_module(module_name), function_name)
        try:
            count = export(
                month=options["month"],
                since=options["since"],
                output=options["output"],
                encoding=options["encoding"],
                actor=options["actor"] or f"cli:{getpass.getuser()}",
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{options['output']}: {count} rows")
