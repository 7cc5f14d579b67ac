"""The back office's initial migration: its staff roles (SPEC 2), groups ``operator`` and ``auditor``.

* operator — issuer staff answering calls and running the monthly cycle: sees members, imports,
  closes, the outbox, jobs and the audit trail, and may put failed emails back in the queue;
* auditor — read-only: sees the same records and the audit trail, changes nothing.

The back office has no models of its own, so this migration is written by hand and
``meisai makemigrations`` leaves it alone. Permissions are created here (Django otherwise creates
them only after all migrations ran), which is why it depends on every app whose models it grants;
to regenerate one of those apps' initial migrations, move this file aside while makemigrations
runs.
"""

from django.db import migrations

from meisai.backoffice.migrations import _grants

VIEW = [
    ("members", "product"),
    ("members", "member"),
    ("members", "card"),
    ("members", "phone"),
    ("members", "deliverypreference"),
    ("imports", "importbatch"),
    ("statements", "monthclose"),
    ("notifications", "outboxmessage"),
    ("core", "job"),
    ("audit", "auditentry"),
]
ROLES = {
    "operator": [("view", app, model) for app, model in VIEW]
    + [("change", "notifications", "outboxmessage")],
    "auditor": [("view", app, model) for app, model in VIEW],
}


def forward(apps, schema_editor):
    _grants.grant(apps, ROLES)


def backward(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0001_initial"),
        ("imports", "0001_initial"),
        ("statements", "0001_initial"),
        ("notifications", "0001_initial"),
        ("core", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward)]
