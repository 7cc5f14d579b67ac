"""``meisai unlock login LOGIN_ID --reason TEXT`` / ``meisai unlock registration MEMBER_NO
--reason TEXT``: lift a member's login or registration lock on their request, audited."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.accounts.unlocks import UnlockRefused, account_login_unlock, registration_unlock
from meisai.members.models import Member


class Command(BaseCommand):
    help = (
        "Lift a lock on a member's request: 'login LOGIN_ID' clears the failed logins, "
        "'registration MEMBER_NO' the failed identity checks of the member's cards. "
        "--reason is required and goes to the audit trail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("lock", choices=["login", "registration"])
        parser.add_argument("who", help="login ID (login) or member number (registration)")
        parser.add_argument("--reason", required=True, help="why, for the audit trail")
        parser.add_argument("--actor", default="", help="staff name for the record")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = options["actor"] or f"cli:{getpass.getuser()}"
        try:
            if options["lock"] == "login":
                cleared = account_login_unlock(
                    login_id=options["who"], actor=actor, reason=options["reason"]
                )
            else:
                member = Member.objects.filter(member_no=options["who"]).first()
                if member is None:
                    raise CommandError(f"no member has the number {options['who']!r}")
                cleared = registration_unlock(member=member, actor=actor, reason=options["reason"])
        except UnlockRefused as refused:
            raise CommandError(str(refused)) from refused
        self.stdout.write(f"{options['who']}: lock lifted ({cleared} failure record(s) cleared)")
