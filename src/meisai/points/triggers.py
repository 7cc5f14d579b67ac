"""The database guards of the points tables, the one place they are defined.

A month's campaign grants are written at once by the close, so point entries name their member
and campaign through set-based reference checks instead of foreign keys (``db_constraint=False``
in the models; the functions and why: ``meisai.core.triggers``):

PostgreSQL:
* an ``INSERT`` or ``UPDATE`` of point entries naming a member or campaign that does not exist is
  refused (``points_pointentry_references_insert``, ``…_update``);
* deleting a member or a campaign that point entries still name is refused
  (``members_member_references_unused_by_points``, ``points_campaign_references_unused_by_points``);
* a campaign's ``id`` never changes (``points_campaign_key_unchanged``; members guard their own).
SQLite: row triggers refuse a point entry naming a missing member or campaign, on INSERT and on an
UPDATE of the column; nothing on the deleting side (Django's test flush empties tables with DELETE
in any order).

``migrations/0001_initial.py`` is what ``meisai makemigrations`` writes for the models, with
``migrations.RunPython(triggers.install, migrations.RunPython.noop)`` appended as its last
operation and ``("core", "0001_initial")`` (which installs the trigger functions) added to its
dependencies: to regenerate it, delete it, run makemigrations, and add those two lines again.
"""

from __future__ import annotations

from typing import Any

from meisai.core import triggers as core_triggers

REFERENCES: core_triggers.References = {
    "points_pointentry": [("member_id", "members_member"), ("campaign_id", "points_campaign")],
}
#: Point entries may be updated in a referencing column, so updates are checked too.
UPDATABLE = {"points_pointentry"}

POSTGRESQL = [
    *core_triggers.postgresql_reference_checks(
        app="points", references=REFERENCES, updatable=UPDATABLE
    ),
    core_triggers.postgresql_key_unchanged("points_campaign"),
]

SQLITE = core_triggers.sqlite_reference_checks(REFERENCES)


def install(apps: Any, schema_editor: Any) -> None:
    core_triggers.run(schema_editor, postgresql=POSTGRESQL, sqlite=SQLITE)
