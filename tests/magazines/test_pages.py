"""会員情報誌: off by default with the flyer's words; operators upload and switch it on in admin."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from meisai.accounts.models import Account
from meisai.audit.models import AuditEntry
from meisai.magazines.models import MagazineIssue, MagazineSettings
from tests.backoffice.conftest import second_factor_passed
from tests.factories import AccountFactory, MagazineIssueFactory

pytestmark = pytest.mark.django_db

CLOSED = "申し訳ございませんが、当面の間ご利用になれません"


@pytest.fixture
def operator_client(client):
    operator = Account.objects.create_superuser("operator01", "operator-password-1")
    from django.test import Client

    admin = Client()
    admin.force_login(operator)
    return second_factor_passed(admin, operator)


def test_switched_off_by_default(member_client):
    issue = MagazineIssueFactory()

    page = member_client.get("/magazines/").content.decode()

    assert CLOSED in page
    assert "会員情報誌 春号" not in page
    assert member_client.get(f"/magazines/{issue.pk}.pdf").status_code == 404


def test_switched_on_lists_and_downloads_issues(member_client):
    MagazineSettings.objects.create(pk=1, enabled=True)
    older = MagazineIssueFactory(title="冬号", month="2025-01")
    newer = MagazineIssueFactory(title="春号", month="2025-04")

    page = member_client.get("/magazines/").content.decode()

    assert CLOSED not in page
    assert page.index("春号") < page.index("冬号")
    assert "2025年4月号" in page and "2025年1月号" in page
    response = member_client.get(f"/magazines/{newer.pk}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == b"%PDF-1.4 magazine"
    assert member_client.get(f"/magazines/{older.pk + newer.pk + 1}.pdf").status_code == 404


def test_operator_uploads_an_issue_and_switches_the_page_on_in_admin(operator_client, client):
    upload = SimpleUploadedFile(
        "summer.pdf", b"%PDF-1.4 summer\n%%EOF\n", content_type="application/pdf"
    )
    response = operator_client.post(
        "/backoffice/admin/magazines/magazineissue/add/",
        {"title": "夏号", "month": "2025-07", "pdf": upload},
    )
    assert response.status_code == 302
    issue = MagazineIssue.objects.get()
    assert (issue.title, issue.month, issue.uploaded_by) == ("夏号", "2025-07", "operator01")

    response = operator_client.post(
        "/backoffice/admin/magazines/magazinesettings/add/", {"enabled": "on"}
    )
    assert response.status_code == 302
    assert list(MagazineSettings.objects.values_list("pk", "enabled")) == [(1, True)]
    entry = AuditEntry.objects.get(action="magazines_switch")
    assert (entry.actor, entry.detail) == ("operator01", {"enabled": True})

    client.force_login(AccountFactory())
    assert "夏号" in client.get("/magazines/").content.decode()


def test_magazines_need_a_member(client):
    assert client.get("/magazines/")["Location"] == "/login/?next=/magazines/"
