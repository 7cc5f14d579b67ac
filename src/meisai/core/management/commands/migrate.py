"""``meisai migrate``: Django's migrate, as the database owner when meisai runs as two roles.

With ``MEISAI_MIGRATE_DATABASE_URL`` set, the migrations run on the owner's connection, and the
application role of ``DATABASE_URL`` is then granted its rows on every table (and nothing more:
see ``core.database_roles``). Unset, the one role of ``DATABASE_URL`` migrates, as before; production
on PostgreSQL refuses that, because the application role would then own the tables and could
truncate or drop them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import CommandError
from django.core.management.commands import migrate
from django.db import connections

from meisai.core.database_roles import (
    application_role,
    grant_to_application,
    owner_connection,
    refuse_unsafe_roles,
)


class Command(migrate.Command):
    help = (
        "Updates the database schema, as the owner role of MEISAI_MIGRATE_DATABASE_URL when it "
        "is set, then grants the application role of DATABASE_URL its rows (SELECT, INSERT, "
        "UPDATE, DELETE) on every table: never TRUNCATE, never ownership."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        database = options["database"]
        read_only = bool(options["check_unapplied"] or options["plan"])
        vendor = connections[database].vendor
        if (
            settings.MEISAI_ENV == "production"
            and vendor == "postgresql"
            and application_role() is None
            and not read_only
        ):
            raise CommandError(
                "production migrates as the database owner: set MEISAI_MIGRATE_DATABASE_URL to "
                "the owner role's URL (DATABASE_URL is the application's role; "
                "docs/deployment.md)"
            )
        with owner_connection(database) as owner:
            application = application_role()
            if owner is not None and application is not None and not read_only:
                refuse_unsafe_roles(owner, application)
            super().handle(*args, **options)
            if owner is not None and application is not None and not read_only:
                grant_to_application(owner, application)
                if options["verbosity"] >= 1:
                    self.stdout.write(
                        f"Granted the application role {application} its rows (no TRUNCATE)."
                    )
