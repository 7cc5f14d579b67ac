"""Audit entries are append-only: enforced in the database, not only by the admin.

PostgreSQL: no UPDATE and no DELETE of ``backoffice_auditentry`` rows (a trigger raises).
SQLite (the embedded demo and the quick test run) gets the UPDATE guard only, because Django's
test flush empties tables with DELETE there (PostgreSQL's flush uses TRUNCATE).
"""

from django.db import migrations

POSTGRES_FORWARD = r"""
CREATE OR REPLACE FUNCTION meisai_audit_entry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (entry %)', OLD.id
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_entry_append_only
    BEFORE UPDATE OR DELETE ON backoffice_auditentry
    FOR EACH ROW EXECUTE FUNCTION meisai_audit_entry_append_only();
"""

POSTGRES_BACKWARD = r"""
DROP TRIGGER IF EXISTS audit_entry_append_only ON backoffice_auditentry;
DROP FUNCTION IF EXISTS meisai_audit_entry_append_only();
"""

SQLITE_FORWARD = r"""
CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON backoffice_auditentry
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;
"""

SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS audit_entry_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
