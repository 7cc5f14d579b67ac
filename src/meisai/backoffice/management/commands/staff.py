"""``meisai staff add LOGIN_ID --role operator|auditor|admin --email ADDRESS`` ·
``meisai staff list`` · ``meisai staff disable LOGIN_ID``: the staff accounts of the console
(SPEC 2), audited with the actor ``cli:<operating-system user>``."""

from __future__ import annotations

import getpass
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.backoffice.roles import Role
from meisai.backoffice.staff_accounts import (
    StaffRefused,
    staff_add,
    staff_disable,
    staff_list,
)

ROLES = {
    "operator": Role.OPERATOR,
    "auditor": Role.AUDITOR,
    "admin": Role.ADMINISTRATOR,
    "administrator": Role.ADMINISTRATOR,
}


class Command(BaseCommand):
    help = (
        "Staff accounts of the console. 'add LOGIN_ID --role R --email ADDRESS' creates one "
        "(the password is read from standard input when it is not a terminal, asked twice "
        "otherwise) and prints its TOTP provisioning URI, once; 'list' shows them; "
        "'disable LOGIN_ID' disables one and ends its sessions."
    )
    # ``call_command("staff", "add", …, stdin=…)`` in tests, as Django's createsuperuser does.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="add|list|disable")
        add = actions.add_parser("add", help="create a staff account")
        add.add_argument("login_id", metavar="LOGIN_ID")
        add.add_argument("--role", required=True, choices=sorted(ROLES))
        add.add_argument("--email", required=True, metavar="ADDRESS")
        actions.add_parser("list", help="list the staff accounts")
        disable = actions.add_parser("disable", help="disable a staff account")
        disable.add_argument("login_id", metavar="LOGIN_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = f"cli:{getpass.getuser()}"
        try:
            match options["action"]:
                case "add":
                    added = staff_add(
                        login_id=options["login_id"],
                        role=ROLES[options["role"]],
                        email=options["email"],
                        password=self._password(options.get("stdin") or sys.stdin),
                        actor=actor,
                    )
                    self.stdout.write(
                        f"{added.account.login_id}: {ROLES[options['role']].value} added. "
                        "Add this URI to the authenticator app now (as a QR code, e.g. "
                        "qrencode -t ansiutf8); it is shown only this once:"
                    )
                    self.stdout.write(added.provisioning_uri)
                case "list":
                    self.stdout.write("login_id\trole\tstate\ttotp\tlast_login\temail")
                    for row in staff_list():
                        state = "active" if row.active else "disabled"
                        roles = ",".join(row.roles) or "-"
                        self.stdout.write(
                            f"{row.login_id}\t{roles}\t{state}\t{row.totp}\t{row.last_login}"
                            f"\t{row.email}"
                        )
                case "disable":
                    disabled = staff_disable(login_id=options["login_id"], actor=actor)
                    self.stdout.write(
                        f"{disabled.account.login_id}: disabled "
                        f"({disabled.sessions_ended} session(s) ended)"
                    )
        except StaffRefused as refused:
            raise CommandError(str(refused)) from refused

    def _password(self, stdin: TextIO) -> str:
        """The new password: the first line of standard input, or typed twice at a terminal."""
        if not stdin.isatty():
            return stdin.readline().rstrip("\r\n")
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != first:
            raise CommandError("the two passwords differ")
        return first
