import django.db.models.deletion
from django.db import migrations, models

from meisai.audit import triggers


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("members", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(db_index=True)),
                ("actor", models.CharField(max_length=150)),
                ("action", models.CharField(max_length=100)),
                ("detail", models.JSONField(blank=True, default=dict)),
                ("client_ip", models.GenericIPAddressField(blank=True, null=True)),
                (
                    "member",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="members.member",
                    ),
                ),
            ],
            options={
                "verbose_name": "監査ログ",
                "verbose_name_plural": "監査ログ",
                "ordering": ["-at", "-id"],
            },
        ),
        migrations.RunPython(triggers.install, migrations.RunPython.noop),
    ]
