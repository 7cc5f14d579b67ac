"""``meisai flush``: Django's flush, as the database owner when meisai runs as two roles.

Emptying every table is ``TRUNCATE``, which the application role of ``DATABASE_URL`` is refused
(docs/deployment.md): with ``MEISAI_MIGRATE_DATABASE_URL`` set, flush connects as the owner. The
test suite's transactional tests end with a flush, so they keep working on the two roles.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush

from meisai.core.database_roles import owner_connection


class Command(flush.Command):
    help = flush.Command.help + " As the owner role of MEISAI_MIGRATE_DATABASE_URL when it is set."

    def handle(self, **options: Any) -> None:
        with owner_connection(options["database"]):
            super().handle(**options)
