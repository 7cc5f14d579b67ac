"""「コードを再送する」 on the login-code page (issue 15, SPEC 3.5): a new code by email, the
previous one dead, five an hour per account; beyond that the page says so and answers 429."""

from __future__ import annotations

import pytest

from meisai.accounts.models import LoginChallenge
from meisai.accounts.throttles import LOGIN_CODE_RESEND_REFUSED
from tests.accounts.conftest import FACTORY_PASSWORD, code_in, outbox

pytestmark = pytest.mark.django_db

EMAIL = "jiro@example.jp"


def half_way(client):
    response = client.post("/login/", {"username": "kitakami.jiro", "password": FACTORY_PASSWORD})
    assert response.url == "/login/code/"


def test_the_code_page_offers_to_resend_the_code(client, account, frozen):
    half_way(client)

    page = client.get("/login/code/").content.decode()

    assert '<form method="post" action="/login/code/resend/" class="resend">' in page
    assert "コードを再送する</button>" in page


def test_a_resent_code_logs_in_and_the_previous_one_is_dead(client, account, frozen):
    half_way(client)
    first = code_in(outbox(EMAIL, "login_code")[-1])

    response = client.post("/login/code/resend/", follow=True)

    assert response.redirect_chain == [("/login/code/", 302)]
    assert "確認コードを再送しました。" in response.content.decode()
    mails = outbox(EMAIL, "login_code")
    assert len(mails) == 2
    second = code_in(mails[-1])
    if first != second:
        # The first code died with the resend: it is refused (and counts as a wrong try).
        refused = client.post("/login/code/", {"code": first})
        assert refused.status_code == 200
        assert "確認コードが正しくありません。" in refused.content.decode()
    assert client.post("/login/code/", {"code": second}).url == "/"
    assert client.get("/").status_code == 200


def test_the_sixth_resend_within_the_hour_is_refused(client, account, frozen):
    half_way(client)
    for _ in range(5):
        assert client.post("/login/code/resend/").url == "/login/code/"
    open_before = list(LoginChallenge.objects.values_list("id", "used_at"))

    refused = client.post("/login/code/resend/")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 3600
    assert str(LOGIN_CODE_RESEND_REFUSED) in refused.content.decode()
    assert len(outbox(EMAIL, "login_code")) == 6  # the login's and five resends, no seventh
    assert list(LoginChallenge.objects.values_list("id", "used_at")) == open_before
    # The code of the last email still logs in.
    assert client.post("/login/code/", {"code": code_in(outbox(EMAIL)[-1])}).url == "/"


def test_an_hour_later_the_code_can_be_resent_again(client, account, frozen):
    half_way(client)
    for _ in range(5):
        client.post("/login/code/resend/")
    frozen.shift(3601)

    # The pending login is gone by now (its code lived 10 minutes), but the throttle freed: a
    # new login from the same browser may resend again.
    half_way(client)
    assert client.post("/login/code/resend/").url == "/login/code/"


def test_without_a_pending_login_resend_goes_back_to_the_login_page(client, account):
    response = client.post("/login/code/resend/")

    assert response.url == "/login/"
    assert not outbox(EMAIL)


def test_resend_is_a_post(client, account, frozen):
    half_way(client)

    assert client.get("/login/code/resend/").status_code == 405
    assert len(outbox(EMAIL, "login_code")) == 1
