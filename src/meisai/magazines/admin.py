"""Operators upload 会員情報誌 issues and switch the member page on or off in Django's admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.files import File
from django.http import HttpRequest

from meisai.magazines.models import MagazineIssue, MagazineSettings
from meisai.magazines.services import magazine_issue_upload, magazine_pdf_check, magazines_switch


class MagazineIssueForm(forms.ModelForm):
    """The upload form: the file is checked by its content (``magazine_pdf_check``), so a
    renamed program or web page gets the form's Japanese error, not a stored issue."""

    class Meta:
        model = MagazineIssue
        fields = ("title", "month", "pdf")

    def clean_pdf(self) -> File:
        pdf = self.cleaned_data["pdf"]
        magazine_pdf_check(pdf)
        return pdf


@admin.register(MagazineIssue)
class MagazineIssueAdmin(admin.ModelAdmin):
    form = MagazineIssueForm
    list_display = ("month", "title", "uploaded_at", "uploaded_by")
    readonly_fields = ("uploaded_at", "uploaded_by")
    fields = ("title", "month", "pdf", "uploaded_at", "uploaded_by")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An issue is uploaded once; a corrected one is uploaded as a new issue.
        return False

    def save_model(self, request: HttpRequest, obj: MagazineIssue, form: Any, change: bool) -> None:
        # Through the service, so the upload is audited.
        data = form.cleaned_data
        obj.pk = magazine_issue_upload(
            title=data["title"], month=data["month"], pdf=data["pdf"], actor=str(request.user)
        ).pk


@admin.register(MagazineSettings)
class MagazineSettingsAdmin(admin.ModelAdmin):
    list_display = ("enabled", "updated_at")
    fields = ("enabled",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row only; it is created switched off the first time the page asks for it.
        return not MagazineSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: MagazineSettings, form: Any, change: bool
    ) -> None:
        # Through the service, so the switch is audited.
        obj.pk = magazines_switch(enabled=obj.enabled, actor=str(request.user)).pk
