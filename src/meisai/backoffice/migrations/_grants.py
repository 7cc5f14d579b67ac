"""Granting the staff roles their admin permissions, shared by the back office's migrations.

Permissions are created here first, because Django creates them only after every migration ran.
"""


def grant(apps, grants):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, rows in grants.items():
        group, _ = Group.objects.get_or_create(name=name)
        for action, app, model in rows:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app, codename=f"{action}_{model}")
            )
