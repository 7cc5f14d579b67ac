"""Publication in place: the statements' row guard compares rows without jsonb, and their pages
keep room for the publication's update (``triggers.install_publication_in_place``)."""

from django.db import migrations

from meisai.statements import triggers


class Migration(migrations.Migration):
    dependencies = [("statements", "0002_statementbalance")]

    operations = [
        migrations.RunPython(triggers.install_publication_in_place, migrations.RunPython.noop)
    ]
