"""Back office (Django admin at /backoffice/admin/): campaigns are data operators edit.

A campaign is saved through ``points.services.campaign_upsert`` (its checks, its audit row),
never by the admin's own ``save()``; the form shows the service's problems as form errors.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from meisai.points.models import Campaign, PointBalance, PointEntry
from meisai.points.services import CAMPAIGN_FIELDS, campaign_problems, campaign_upsert


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = CAMPAIGN_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needed = ("window_start", "window_end", "points", "grant_month")
        if all(data.get(name) is not None for name in needed):
            code = data.get("code") or self.instance.code
            for problem in campaign_problems(
                code=code,
                window_start=data["window_start"],
                window_end=data["window_end"],
                points=data["points"],
                grant_month=data["grant_month"],
                excluded_product_codes=[p.code for p in data.get("excluded_products") or []],
            ):
                self.add_error(None, problem)
        return data


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("code", "name", "window_start", "window_end", "points", "grant_month")
    search_fields = ("code", "name")
    filter_horizontal = ("excluded_products",)
    ordering = ("-grant_month", "code")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The code names the campaign for the service: changing it would make another one.
        return ("code",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = campaign_upsert(
            code=obj.code,
            name=data["name"],
            window_start=data["window_start"],
            window_end=data["window_end"],
            points=data["points"],
            grant_month=data["grant_month"],
            excluded_product_codes=[p.code for p in data["excluded_products"]],
            actor=request.user.get_username(),
        )
        obj.pk = saved.pk

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The excluded products were set by ``campaign_upsert``."""


@admin.register(PointEntry)
class PointEntryAdmin(admin.ModelAdmin):
    """Grants are made by the close only: read-only here, never added or deleted by hand."""

    list_display = ("member", "kind", "points", "billing_month", "campaign", "recorded_at")
    list_filter = ("kind", "billing_month", "campaign")
    search_fields = ("member__member_no",)
    list_select_related = ("member", "campaign")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PointBalance)
class PointBalanceAdmin(admin.ModelAdmin):
    """Balances come from the core system's file: read-only here."""

    list_display = ("member", "as_of", "balance", "expiring_points", "expires_on")
    search_fields = ("member__member_no",)
    list_select_related = ("member",)

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
