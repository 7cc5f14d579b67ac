"""What a POST carries is guarded (SPEC 3.10): views that read card numbers, passwords or codes
mark them sensitive so that no error report shows them, and every POST that writes rows for an
anonymous visitor is throttled like the others."""

from __future__ import annotations

import pytest
from django.views.debug import SafeExceptionReporterFilter

from meisai.accounts.models import Consent
from meisai.accounts.throttles import THROTTLES

pytestmark = pytest.mark.django_db

HIDDEN = SafeExceptionReporterFilter.cleansed_substitute

ANONYMOUS = [
    (
        "/register/identity/forged-token/",
        [
            "card_number",
            "card_expiry",
            "birth_date",
            "phone",
            "password",
            "password_confirm",
        ],
    ),
    ("/login/", ["password"]),
    ("/login/code/", ["code"]),
    ("/login/forgot-password/", ["card_number", "birth_date"]),
    ("/login/reset/forged-token/", ["password", "password_confirm"]),
]
LOGGED_IN = [
    ("/account/email/", ["current_password"]),
    ("/account/password/", ["current_password", "password", "password_confirm"]),
    ("/account/message/", ["current_password"]),
]


def _posted_as_an_error_report_shows_it(client, path: str, fields: list[str]) -> dict:
    data = {field: "4980123456781234" for field in fields} | {"other": "shown"}
    response = client.post(path, data)
    return SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)


@pytest.mark.parametrize(("path", "fields"), ANONYMOUS)
def test_anonymous_views_hide_what_they_read(client, path, fields):
    shown = _posted_as_an_error_report_shows_it(client, path, fields)
    assert {field: shown[field] for field in fields} == dict.fromkeys(fields, HIDDEN)
    assert shown["other"] == "shown"


@pytest.mark.parametrize(("path", "fields"), LOGGED_IN)
def test_account_views_hide_what_they_read(member_client, path, fields):
    shown = _posted_as_an_error_report_shows_it(member_client, path, fields)
    assert {field: shown[field] for field in fields} == dict.fromkeys(fields, HIDDEN)


def test_the_consent_of_step_3_is_throttled_per_client_address(client):
    allowed, _ = THROTTLES["register_terms"]
    for _ in range(allowed):
        assert client.post("/register/", {"agree": "on"}).status_code == 302
    refused = client.post("/register/", {"agree": "on"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert Consent.objects.count() == allowed


@pytest.mark.parametrize(
    "path",
    [
        "/register/complete/forged-token/",
        "/register/takeover/forged-token/",
        "/register/takeover/forged-token/cancel/",
        "/account/email/confirm/forged-token/",
    ],
)
def test_the_buttons_of_emailed_links_are_throttled(client, path):
    allowed, _ = THROTTLES["link_post"]
    for _ in range(allowed):
        assert client.post(path).status_code != 429
    assert client.post(path).status_code == 429
