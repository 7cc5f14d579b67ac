"""The database guards of the member master's tables, the one place they are defined.

PostgreSQL: the ``id`` of a member, a card or a product never changes
(``members_member_key_unchanged``, ``members_card_key_unchanged``,
``members_product_key_unchanged``). Usage lines, statements and point entries name members and
cards through set-based reference checks instead of foreign keys (``meisai.core.triggers``), which
compare ids; a changed id would silently detach their rows. The checks of those references belong
to the apps that hold them (``meisai.statements.triggers``, ``meisai.points.triggers``).

The member master's own references are checked the same way, for the same reason: a member
master's import writes a million cards and phones at once, and a foreign key's check, one trigger
call and one lookup per row at commit, was a fifth of it (bench/README.md). A card names an
existing member and product, a phone an existing member (``members_card_references_insert``,
``…_update``, ``members_phone_references_insert``, ``…_update``: SQLSTATE 23503, an
``IntegrityError``, as a foreign key's); a member or product still named by a card or phone cannot
be deleted (``members_member_references_unused_by_members``,
``members_product_references_unused_by_members``). Django deletes a member's cards and phones
before the member (``on_delete=CASCADE``), so deleting a member still works through the ORM.

SQLite: row triggers for the references (its foreign keys were row-level anyway); no deletion
guard, because Django's test flush empties tables with DELETE in any order.

``migrations/0001_initial.py`` is what ``meisai makemigrations`` writes for the models, with
``migrations.RunPython(triggers.install, migrations.RunPython.noop)`` appended as its last
operation and ``("core", "0001_initial")`` (which installs the trigger functions) added to its
dependencies: to regenerate it, delete it, run makemigrations, and add those two lines again.
``migrations/0003_member_references_set_based.py`` replaced the foreign keys of cards and phones
by :data:`REFERENCES`; it installs them with :func:`install_references`.
"""

from __future__ import annotations

from typing import Any

from meisai.core import triggers as core_triggers

REFERENCES: core_triggers.References = {
    "members_card": [("member_id", "members_member"), ("product_id", "members_product")],
    "members_phone": [("member_id", "members_member")],
}
#: Cards and phones are updated in place by re-imports: their updates are checked too.
UPDATABLE = {"members_card", "members_phone"}

POSTGRESQL = [
    core_triggers.postgresql_key_unchanged("members_member"),
    core_triggers.postgresql_key_unchanged("members_card"),
]

SQLITE: list[str] = []

POSTGRESQL_REFERENCES = [
    core_triggers.postgresql_key_unchanged("members_product"),
    *core_triggers.postgresql_reference_checks(
        app="members", references=REFERENCES, updatable=UPDATABLE
    ),
]
SQLITE_REFERENCES = core_triggers.sqlite_reference_checks(REFERENCES)


def install(apps: Any, schema_editor: Any) -> None:
    core_triggers.run(schema_editor, postgresql=POSTGRESQL, sqlite=SQLITE)


def install_references(apps: Any, schema_editor: Any) -> None:
    core_triggers.run(schema_editor, postgresql=POSTGRESQL_REFERENCES, sqlite=SQLITE_REFERENCES)


def uninstall_references(apps: Any, schema_editor: Any) -> None:
    """The reverse of :func:`install_references` (the foreign keys come back instead)."""
    drops = [
        f"DROP TRIGGER IF EXISTS {sql.split()[2]} ON {sql.split(' ON ')[1].split()[0]}"
        for sql in POSTGRESQL_REFERENCES
    ]
    sqlite = [f"DROP TRIGGER IF EXISTS {sql.split()[2]}" for sql in SQLITE_REFERENCES]
    core_triggers.run(schema_editor, postgresql=drops, sqlite=sqlite)
