"""The operators' back office (SPEC 2, 3.10): read-only member data, every look audited, an
append-only audit trail, the operator and auditor roles (the dashboard: test_dashboard.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction

from meisai.accounts.models import Account
from meisai.audit.models import AuditEntry
from meisai.audit.services import audit_record
from meisai.backoffice.roles import Role
from meisai.clock import JST
from meisai.members.models import Member
from meisai.notifications.models import OutboxMessage
from tests.backoffice.conftest import roles_present, signed_in, staff_account
from tests.factories import CardFactory, MemberFactory

pytestmark = pytest.mark.django_db


def _staff(client, role: str, login_id: str) -> Account:
    """A staff member of ``role``, signed in on ``client`` as the staff login leaves it
    (password and TOTP code passed)."""
    staff = staff_account(Role(role), login_id=login_id)
    client.cookies = signed_in(staff).cookies
    return staff


def _outbox(key: str, status: str) -> OutboxMessage:
    moment = dt.datetime(2025, 6, 13, 9, 0, tzinfo=JST)
    return OutboxMessage.objects.create(
        key=key,
        template="statement_confirmed",
        to=f"{key}@example.jp",
        subject="確定",
        body_text="本文",
        status=status,
        attempts=12 if status == "failed" else 0,
        next_attempt_at=moment,
        created_at=moment,
    )


def test_roles_exist_with_their_permissions():
    # The migrations' groups, put back by the migrations' own code if a transactional test of
    # this process flushed them (the order of tests differs between processes).
    roles_present()
    operator = set(
        Group.objects.get(name="operator").permissions.values_list("codename", flat=True)
    )
    auditor = set(Group.objects.get(name="auditor").permissions.values_list("codename", flat=True))
    views = {
        "view_product",
        "view_member",
        "view_card",
        "view_phone",
        "view_deliverypreference",
        "view_importbatch",
        "view_monthclose",
        "view_outboxmessage",
        "view_job",
        "view_auditentry",
        "view_securityevent",
    }
    assert auditor == views
    assert operator == views | {"change_outboxmessage"}
    administrator = set(
        Group.objects.get(name="administrator").permissions.values_list("codename", flat=True)
    )
    assert administrator == views | {"view_campaign", "view_magazineissue"} | {
        f"{action}_{model}"
        for action in ("add", "change")
        for model in ("campaign", "magazineissue", "product")
    }


def test_member_list_and_record_views_are_audited(client):
    card = CardFactory(member=MemberFactory(member_no="M0000101"), number="4980123412341234")
    other = MemberFactory(member_no="M0000102")
    _staff(client, "operator", "op-sato")

    listing = client.get("/backoffice/admin/members/member/", REMOTE_ADDR="10.0.0.7")
    record = client.get(f"/backoffice/admin/members/member/{card.member.pk}/change/")

    assert listing.status_code == 200
    assert record.status_code == 200
    page = record.content.decode()
    assert "****-****-****-1234" in page
    assert "4980123412341234" not in page
    assert card.number_hash not in page
    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.actor, e.action, e.member) for e in entries] == [
        ("op-sato", "admin_list_member", None),
        ("op-sato", "admin_view_member", card.member),
    ]
    assert sorted(entries[0].detail["shown"]) == sorted([str(card.member.pk), str(other.pk)])
    assert entries[0].client_ip == "10.0.0.7"


def test_member_data_cannot_be_changed_or_deleted(client):
    member = MemberFactory(member_no="M0000201", name_kanji="盛岡 花子")
    _staff(client, "operator", "op-suzuki")

    changed = client.post(
        f"/backoffice/admin/members/member/{member.pk}/change/", {"name_kanji": "改ざん"}
    )
    deleted = client.post(f"/backoffice/admin/members/member/{member.pk}/delete/", {"post": "yes"})
    added = client.get("/backoffice/admin/members/member/add/")

    assert (changed.status_code, deleted.status_code, added.status_code) == (403, 403, 403)
    member.refresh_from_db()
    assert member.name_kanji == "盛岡 花子"
    assert Member.objects.count() == 1


def test_audit_trail_is_read_only_in_the_admin(client):
    entry = audit_record(actor="op-x", action="member_view", detail={"a": 1})
    _staff(client, "auditor", "audit-ito")

    viewed = client.get(f"/backoffice/admin/audit/auditentry/{entry.pk}/change/")
    changed = client.post(
        f"/backoffice/admin/audit/auditentry/{entry.pk}/change/", {"actor": "someone"}
    )
    deleted = client.post(f"/backoffice/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"})

    assert (viewed.status_code, changed.status_code, deleted.status_code) == (200, 403, 403)
    entry.refresh_from_db()
    assert (entry.actor, entry.action, entry.detail) == ("op-x", "member_view", {"a": 1})
    assert AuditEntry.objects.count() == 1


def test_audit_rows_cannot_be_updated_in_the_database():
    entry = audit_record(actor="op-x", action="member_view")
    with (
        pytest.raises(DatabaseError, match="^audit entries are append-only"),
        transaction.atomic(),
    ):
        AuditEntry.objects.filter(pk=entry.pk).update(actor="someone else")
    entry.refresh_from_db()
    assert entry.actor == "op-x"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="DELETE guard is PostgreSQL only")
def test_audit_rows_cannot_be_deleted_on_postgresql():
    entry = audit_record(actor="op-x", action="member_view")
    with (
        pytest.raises(
            DatabaseError, match=f"^audit entries are append-only \\(entry {entry.pk}\\)"
        ),
        transaction.atomic(),
    ):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_operator_requeues_failed_mail_it_is_sent_and_audited(client, mailoutbox):
    failed = _outbox("failed-1", "failed")
    sent = _outbox("sent-1", "sent")
    _staff(client, "operator", "op-kato")

    response = client.post(
        "/backoffice/admin/notifications/outboxmessage/",
        {"action": "requeue", "_selected_action": [failed.pk, sent.pk]},
    )

    assert response.status_code == 302
    failed.refresh_from_db()
    sent.refresh_from_db()
    # Requeued, then delivered at once by the inline sender of the embedded default.
    assert (failed.status, failed.attempts, sent.status) == ("sent", 13, "sent")
    assert [m.to for m in mailoutbox] == [["failed-1@example.jp"]]
    requeue = AuditEntry.objects.get(action="outbox_requeue")
    assert (requeue.actor, requeue.detail) == ("op-kato", {"keys": ["failed-1"], "count": 1})


def test_auditor_cannot_requeue_failed_mail(client):
    failed = _outbox("failed-2", "failed")
    _staff(client, "auditor", "audit-abe")

    client.post(
        "/backoffice/admin/notifications/outboxmessage/",
        {"action": "requeue", "_selected_action": [failed.pk]},
    )

    failed.refresh_from_db()
    assert failed.status == "failed"
    assert not AuditEntry.objects.filter(action="outbox_requeue").exists()
