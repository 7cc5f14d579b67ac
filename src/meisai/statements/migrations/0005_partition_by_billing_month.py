"""PostgreSQL: usage lines and statements become tables partitioned by billing month, one
partition per month (``meisai.statements.partitions``). Rows keep their ids and the ids
continue; the model state does not change. SQLite: nothing changes.

Not reversible: going back would mean copying every month into one table again, which no
deployment has needed; restore the backup taken before migrating instead."""

from django.db import migrations

from meisai.statements import partitions


class Migration(migrations.Migration):
    dependencies = [("statements", "0004_statement_member_snapshot")]

    operations = [migrations.RunPython(partitions.partition_tables, elidable=False)]
