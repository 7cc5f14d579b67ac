"""The database guards of the member master's tables, the one place they are defined.

PostgreSQL: the ``id`` of a member or a card never changes (``members_member_key_unchanged``,
``members_card_key_unchanged``). Usage lines, statements and point entries name members and cards
through set-based reference checks instead of foreign keys (``meisai.core.triggers``), which
compare ids; a changed id would silently detach their rows. The checks themselves belong to the
apps that hold the references (``meisai.statements.triggers``, ``meisai.points.triggers``).
SQLite needs no guard here: its reference checks are row triggers on the referencing tables.

``migrations/0001_initial.py`` is what ``meisai makemigrations`` writes for the models, with
``migrations.RunPython(triggers.install, migrations.RunPython.noop)`` appended as its last
operation and ``("core", "0001_initial")`` (which installs the trigger functions) added to its
dependencies: to regenerate it, delete it, run makemigrations, and add those two lines again.
"""

from __future__ import annotations

from typing import Any

from meisai.core import triggers as core_triggers

POSTGRESQL = [
    core_triggers.postgresql_key_unchanged("members_member"),
    core_triggers.postgresql_key_unchanged("members_card"),
]

SQLITE: list[str] = []


def install(apps: Any, schema_editor: Any) -> None:
    core_triggers.run(schema_editor, postgresql=POSTGRESQL, sqlite=SQLITE)
