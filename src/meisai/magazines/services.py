"""The member-magazine switch and issues (SPEC 3.8). Off by default, as in the flyer."""

from __future__ import annotations

from django.core.files import File
from django.db import transaction

from meisai.audit.services import audit_record
from meisai.magazines.models import MagazineIssue, MagazineSettings


def magazine_settings_get() -> MagazineSettings:
    """The single settings row, created switched off the first time it is asked for."""
    settings, _ = MagazineSettings.objects.get_or_create(pk=1)
    return settings


def magazines_enabled() -> bool:
    return MagazineSettings.objects.filter(pk=1, enabled=True).exists()


@transaction.atomic
def magazine_issue_upload(*, title: str, month: str, pdf: File, actor: str) -> MagazineIssue:
    """Store an uploaded issue (会員情報誌) for members to download; audited."""
    issue = MagazineIssue(title=title, month=month, uploaded_by=actor)
    issue.pdf.save(pdf.name or "magazine.pdf", pdf, save=False)
    issue.save()
    audit_record(
        actor=actor,
        action="magazine_issue_upload",
        detail={"issue": issue.pk, "title": title, "month": month, "file": issue.pdf.name},
    )
    return issue


@transaction.atomic
def magazines_switch(*, enabled: bool, actor: str) -> MagazineSettings:
    """Turn the magazine page on or off for every member; audited."""
    settings = magazine_settings_get()
    settings.enabled = enabled
    settings.save(update_fields=["enabled", "updated_at"])
    audit_record(actor=actor, action="magazines_switch", detail={"enabled": enabled})
    return settings
