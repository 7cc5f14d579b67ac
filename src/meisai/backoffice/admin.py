"""The operators' back office: Django's admin at ``/backoffice/admin/``.

Member data is read-only master data (the core system is its source): nobody adds, changes or
deletes it here. Every list and every record of member data that a staff member opens is written
to the audit trail (SPEC 3.10) by ``AuditedViewsMixin``, in the same request. The audit trail
itself is read-only and append-only (also enforced in the database). Card numbers appear only as
their last four digits; the keyed hash is never shown.

Roles are the groups ``operator``, ``auditor`` and ``administrator``
(``backoffice/migrations/``); all are staff. Only a staff member signed in at the staff
login, password and TOTP code, opens any of it (the wiring below).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from meisai.audit.models import AuditEntry, SecurityEvent
from meisai.audit.security_events import KINDS
from meisai.audit.services import audit_record
from meisai.backoffice import login_views
from meisai.backoffice.access import staff_required
from meisai.backoffice.roles import staff_role
from meisai.clock import now
from meisai.core.clients import client_address
from meisai.core.models import Job
from meisai.imports.models import ImportBatch
from meisai.members.models import Card, DeliveryPreference, Member, Phone, Product
from meisai.notifications.models import OutboxMessage
from meisai.statements.models import MonthClose

admin.site.site_header = "WEB請求明細 バックオフィス"
admin.site.site_title = "WEB請求明細 バックオフィス"
admin.site.index_title = "管理メニュー"
admin.site.index_template = "backoffice/admin_index.html"


# --- the staff sign-in guards the admin too (SPEC 2, 3.10) -----------------------------------
# Django's default site, made the console's: every admin page passes ``staff_required`` first
# (anonymous → the staff login, a cardholder → 404, no TOTP code yet → the staff login), its
# own permission check asks for a role and a verified code, and its login and logout pages are
# the console's (so a sign-in is always password + code, and a logout is audited). Set on the
# default site's instance because the other apps register their models on ``admin.site``.
_django_admin_view = admin.site.admin_view


def _console_admin_view(view: Callable[..., Any], cacheable: bool = False) -> Callable[..., Any]:
    return staff_required()(_django_admin_view(view, cacheable))


def _staff_verified(request: HttpRequest) -> bool:
    return staff_role(request.user) is not None and request.user.is_verified()  # type: ignore[union-attr]


def _to_staff_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    next_url = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
    return redirect_to_login(next_url, reverse("backoffice:login"))


admin.site.admin_view = _console_admin_view  # type: ignore[method-assign,assignment]
admin.site.has_permission = _staff_verified  # type: ignore[method-assign]
admin.site.login = _to_staff_login  # type: ignore[method-assign]
admin.site.logout = login_views.staff_logout  # type: ignore[method-assign,assignment]


def client_ip(request: HttpRequest) -> str | None:
    """The staff member's address as the throttles see it (behind MEISAI_TRUSTED_PROXIES)."""
    return client_address(request) or None


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records to look at: no add, no change, no delete, for anybody."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AuditedViewsMixin:
    """Audits every list and detail view of member data: who, when, from where, what.

    ``audit_action`` names the record kind; ``audit_member(obj)`` says whose data a record is.
    """

    audit_action = ""

    def audit_member(self, obj: Any) -> Member | None:
        return None

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)  # type: ignore[misc]
        if getattr(response, "status_code", 200) == 200:
            detail: dict[str, Any] = {"query": request.GET.urlencode()[:500]}
            changelist = getattr(response, "context_data", {}).get("cl")
            if changelist is not None:
                detail["shown"] = [str(obj.pk) for obj in changelist.result_list][:100]
            audit_record(
                actor=request.user.get_username(),
                action=f"admin_list_{self.audit_action}",
                detail=detail,
                client_ip=client_ip(request),
            )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        if getattr(response, "status_code", 200) == 200:
            obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
            if obj is not None:
                audit_record(
                    actor=request.user.get_username(),
                    action=f"admin_view_{self.audit_action}",
                    member=self.audit_member(obj),
                    detail={"object": str(obj.pk)},
                    client_ip=client_ip(request),
                )
        return response


class CardInline(admin.TabularInline):
    model = Card
    fields = ("masked", "product", "expiry", "is_active")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="カード番号")
    def masked(self, card: Card) -> str:
        return card.masked


class PhoneInline(admin.TabularInline):
    model = Phone
    fields = ("kind", "number")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryPreferenceInline(admin.TabularInline):
    model = DeliveryPreference
    fields = ("recorded_at", "method", "source", "reason", "actor")
    readonly_fields = fields
    ordering = ("-recorded_at",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SecurityEventInline(admin.TabularInline):
    """The account's security events (SPEC 3.10), newest first: the latest 50 on the page."""

    model = SecurityEvent
    fields = ("at", "what", "login_id", "client", "detail", "request_id")
    readonly_fields = fields
    ordering = ("-at", "-id")
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "セキュリティイベント"
    verbose_name_plural = "セキュリティイベント(新しい順、最大50件)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[SecurityEvent]:
        newest = super().get_queryset(request).order_by("-at", "-id")
        return newest.filter(pk__in=list(newest.values_list("pk", flat=True)[:50]))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Part of the member's record: whoever may view the member sees them.
        return request.user.has_perm("members.view_member")

    @admin.display(description="内容")
    def what(self, event: SecurityEvent) -> str:
        return KINDS.get(event.kind, event.kind)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Member)
class MemberAdmin(AuditedViewsMixin, ReadOnlyAdmin):
    audit_action = "member"
    list_display = ("member_no", "name_kanji", "name_kana", "status", "program_excluded")
    list_filter = ("status", "program_excluded", "fee_exempt", "paper_required")
    search_fields = ("=member_no", "name_kana")
    show_full_result_count = False
    inlines = (CardInline, PhoneInline, DeliveryPreferenceInline, SecurityEventInline)
    exclude = ()

    def audit_member(self, obj: Member) -> Member:
        return obj


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "program_excluded")


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "kind",
        "file_name",
        "status",
        "rows",
        "inserted",
        "updated",
        "error_count",
        "actor",
    )
    list_filter = ("kind", "status")
    date_hierarchy = "started_at"


@admin.register(MonthClose)
class MonthCloseAdmin(ReadOnlyAdmin):
    list_display = (
        "billing_month",
        "status",
        "statements",
        "web_statements",
        "paper_statements",
        "fees",
        "statement_total",
        "confirmed_at",
        "published_at",
    )
    ordering = ("-billing_month",)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(AuditedViewsMixin, ReadOnlyAdmin):
    """Emails carry members' addresses: looking at them is audited like member data.

    A message that carries a secret (an emailed link or code, SPEC 3.10) shows its kind,
    recipient, state, attempts and times, never its subject or body: whoever read the link or
    code could act as the member. The bodies are not even loaded for the list, and a secret
    one is never opened here (it is stored sealed, and wiped once sent).
    """

    audit_action = "outbox"
    list_display = ("created_at", "template", "to", "status", "attempts", "sent_at", "last_error")
    list_filter = ("status", "template", "secret")
    search_fields = ("=to", "key")
    show_full_result_count = False
    actions = ("requeue",)
    _facts = (
        "key",
        "template",
        "to",
        "secret",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )
    readonly_fields = (*_facts, "subject", "text", "html", "withheld")

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboxMessage]:
        return super().get_queryset(request).defer("stored_text", "stored_html")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None or obj.secret:
            return (*self._facts, "withheld")
        return (*self._facts, "subject", "text", "html")

    @admin.display(description="本文")
    def withheld(self, message: OutboxMessage) -> str:
        kept = "送信後に消去済み" if message.wiped else "暗号化して保存、送信後に消去"
        return f"認証用のURL・確認コードを含むため、件名と本文は表示しません({kept})。"

    @admin.display(description="本文(テキスト)")
    def text(self, message: OutboxMessage) -> str:
        return "" if message.secret else message.body_text

    @admin.display(description="本文(HTML)")
    def html(self, message: OutboxMessage) -> str:
        return "" if message.secret else message.body_html

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_outboxmessage")

    @admin.action(description="選択した送信失敗メールを再送する", permissions=["requeue"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        from meisai.notifications.services import outbox_kick

        failed = queryset.filter(status=OutboxMessage.Status.FAILED)
        # A failed secret message was wiped: resending would deliver the placeholder. The
        # member asks for a new link or code instead (its old one has mostly expired anyway).
        wiped = failed.filter(secret=True).count()
        failed = failed.filter(secret=False)
        keys = list(failed.values_list("key", flat=True))
        count = failed.update(status=OutboxMessage.Status.PENDING, next_attempt_at=now())
        audit_record(
            actor=request.user.get_username(),
            action="outbox_requeue",
            detail={"keys": keys[:200], "count": count},
            client_ip=client_ip(request),
        )
        if count:
            outbox_kick()
        self.message_user(request, f"{count}通を再送待ちに戻しました。", messages.SUCCESS)
        if wiped:
            self.message_user(
                request,
                f"認証用のURL・確認コードを含む{wiped}通は本文を消去済みのため再送できません"
                "(お客様に改めてお手続きいただいてください)。",
                messages.WARNING,
            )


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = (
        "queued_at",
        "kind",
        "args",
        "status",
        "done",
        "total",
        "attempts",
        "started_at",
        "finished_at",
        "actor",
    )
    list_filter = ("kind", "status")
    readonly_fields = ("counts", "error")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "member", "client_ip")
    list_filter = ("action",)
    search_fields = ("=actor", "=member__member_no", "action")
    date_hierarchy = "at"
    show_full_result_count = False
