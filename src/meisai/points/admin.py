"""Back office (Django admin at /backoffice/admin/): campaigns are data operators edit."""

from __future__ import annotations

from django.contrib import admin

from meisai.points.models import Campaign, PointBalance, PointEntry


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "window_start", "window_end", "points", "grant_month")
    search_fields = ("code", "name")
    filter_horizontal = ("excluded_products",)
    ordering = ("-grant_month", "code")


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
