"""The usage table's member and card foreign keys without their own indexes.

Every read of usage lines goes by month, or by member and month (``usage_line_unique``), and
members and cards are never deleted: the two indexes only cost the import an entry per row.

SQLite rebuilds the table for this change and so loses its triggers: the guards of
``0004_usage_line_guards`` are created again afterwards.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

_GUARDS = importlib.import_module("meisai.statements.migrations.0004_usage_line_guards")


def sqlite_guards_again(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in _GUARDS.SQLITE_BACKWARD + _GUARDS.SQLITE_FORWARD:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0001_initial"),
        ("statements", "0005_set_based_total_check"),
    ]

    operations = [
        migrations.AlterField(
            model_name="usageline",
            name="card",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="members.card",
            ),
        ),
        migrations.AlterField(
            model_name="usageline",
            name="member",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="usage_lines",
                to="members.member",
            ),
        ),
        migrations.RunPython(sqlite_guards_again, migrations.RunPython.noop),
    ]
