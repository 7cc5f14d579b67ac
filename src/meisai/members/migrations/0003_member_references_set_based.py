"""Cards and phones name their member and product through set-based reference checks instead of
foreign keys (``meisai.members.triggers``), and the indexes nobody reads go: the LIKE index of the
card hash, the card's product index, the phone's member index (the unique member-and-kind index
serves it).

SQLite rebuilds ``members_card`` and ``members_phone`` for these changes, and refuses to rename a
rebuilt table while another table's trigger names it (``meisai.core.triggers``): the triggers of
other tables that name them are dropped first and created again, unchanged, afterwards.
"""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

from meisai.members import triggers

_REBUILT = ("members_card", "members_phone")
#: The triggers set aside while SQLite rebuilds the tables, by database alias: (name, SQL).
_SET_ASIDE: dict[str, list[tuple[str, str]]] = {}


def _set_aside_naming_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
        naming = [
            (name, sql)
            for name, table, sql in cursor.fetchall()
            if table not in _REBUILT and any(rebuilt in sql for rebuilt in _REBUILT)
        ]
        for name, _sql in naming:
            cursor.execute(f'DROP TRIGGER "{name}"')
    _SET_ASIDE[connection.alias] = naming


def _restore_naming_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    for _name, sql in _SET_ASIDE.pop(connection.alias, []):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0002_member_debit_account"),
    ]

    operations = [
        migrations.RunPython(_set_aside_naming_triggers, _restore_naming_triggers),
        migrations.AlterField(
            model_name="card",
            name="member",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="cards",
                to="members.member",
            ),
        ),
        migrations.AlterField(
            model_name="card",
            name="number_hash",
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name="card",
            name="product",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="cards",
                to="members.product",
            ),
        ),
        migrations.AlterField(
            model_name="phone",
            name="member",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="phones",
                to="members.member",
            ),
        ),
        migrations.AddConstraint(
            model_name="card",
            constraint=models.UniqueConstraint(
                fields=("number_hash",), name="card_number_hash_unique"
            ),
        ),
        migrations.RunPython(_restore_naming_triggers, _set_aside_naming_triggers),
        migrations.RunPython(triggers.install_references, triggers.uninstall_references),
    ]
