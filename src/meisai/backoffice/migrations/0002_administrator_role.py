"""The third staff role (SPEC 2, issue of the staff console): ``administrator`` manages staff,
campaigns, products and magazines in the admin, and sees what the others see."""

import importlib

from django.db import migrations

from meisai.backoffice.migrations import _grants

#: What the first two roles see (their migration's list), and what they gain here.
VIEW = [
    *importlib.import_module("meisai.backoffice.migrations.0001_initial").VIEW,
    ("audit", "securityevent"),
    ("points", "campaign"),
    ("magazines", "magazineissue"),
]
GRANTS = {
    "administrator": [("view", app, model) for app, model in VIEW]
    + [(action, "points", "campaign") for action in ("add", "change")]
    + [(action, "magazines", "magazineissue") for action in ("add", "change")]
    + [(action, "members", "product") for action in ("add", "change")],
    # The member's page shows the account's security events to the roles that see members.
    "operator": [("view", "audit", "securityevent")],
    "auditor": [("view", "audit", "securityevent")],
}


def forward(apps, schema_editor):
    _grants.grant(apps, GRANTS)


def backward(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="administrator").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_initial"),
        ("audit", "0002_security_events"),
        ("points", "0001_initial"),
        ("magazines", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward)]
