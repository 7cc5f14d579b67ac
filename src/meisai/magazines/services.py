"""The member-magazine switch and issues (SPEC 3.8). Off by default, as in the flyer."""

from __future__ import annotations

from django.db import transaction

from meisai.audit.services import audit_record
from meisai.magazines.models import MagazineSettings


def magazine_settings_get() -> MagazineSettings:
    """The single settings row, created switched off the first time it is asked for."""
    settings, _ = MagazineSettings.objects.get_or_create(pk=1)
    return settings


def magazines_enabled() -> bool:
    return MagazineSettings.objects.filter(pk=1, enabled=True).exists()


@transaction.atomic
def magazines_switch(*, enabled: bool, actor: str) -> MagazineSettings:
    """Turn the magazine page on or off for every member; audited."""
    settings = magazine_settings_get()
    settings.enabled = enabled
    settings.save(update_fields=["enabled", "updated_at"])
    audit_record(actor=actor, action="magazines_switch", detail={"enabled": enabled})
    return settings
