"""The append-only guard of the audit trail, the one place it is defined.

PostgreSQL: no UPDATE and no DELETE of ``audit_auditentry`` rows (a trigger raises
``restrict_violation``). SQLite (the embedded demo and the quick test run) gets the UPDATE guard
only, because Django's test flush empties tables with DELETE there (PostgreSQL's uses TRUNCATE).

``migrations/0001_initial.py`` is what ``meisai makemigrations`` writes for the model, with
``migrations.RunPython(triggers.install, migrations.RunPython.noop)`` appended as its last
operation: to regenerate it, delete it, run makemigrations, and append that line again.
"""

from __future__ import annotations

from typing import Any

POSTGRESQL = r"""
CREATE OR REPLACE FUNCTION meisai_audit_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (entry %)', OLD.id
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_entry_append_only
    BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION meisai_audit_entry_append_only();
"""

SQLITE = r"""
CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_auditentry
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;
"""


def install(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE)
