"""The pages work in a real browser under the Content-Security-Policy (SPEC 3.10).

The HTML checks of ``test_content_security_policy`` read the pages; this lets chromium enforce
the policy and counts every violation it reports, on the member pages and in the back office,
whose Django admin runs its scripts from files: they must load and run (its jQuery is there, the
navigation sidebar opens and closes).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from meisai.accounts.models import Account
from tests.backoffice.conftest import second_factor_passed
from tests.core.test_content_security_policy import assert_the_policy
from tests.factories import AccountFactory, CardFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

#: Collects what the browser blocked, before any script of the page runs (an init script is
#: the browser's own, not the page's, so the policy does not apply to it).
_LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def browser_page(browser: Any) -> Iterator[Any]:
    """A page of the run's one chromium (tests/e2e/conftest.py): a second Playwright in the same
    process would find the first one's event loop running and refuse to start."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(_LISTEN)
        yield page
    finally:
        context.close()


def _session_of(account: Account, **login: Any) -> str:
    """A session cookie of ``account`` (the login pages have tests of their own)."""
    client = Client()
    client.force_login(account, **login)
    if account.is_staff:
        second_factor_passed(client, account)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


# The database is written before the browser starts: Playwright's sync API runs an asyncio loop
# in this thread, where Django refuses database access (and a connection opened there anyway
# would outlive the test).


@pytest.fixture
def member_session(live_server: Any) -> str:
    account = AccountFactory()
    CardFactory(member=account.member)
    return _session_of(account)


@pytest.fixture
def staff_session(live_server: Any) -> tuple[str, int]:
    member = AccountFactory(login_id="kitakami.jiro")
    superuser = AccountFactory(
        login_id="backoffice-admin",
        member=None,
        is_staff=True,
        is_superuser=True,
        source=Account.Source.STAFF,
    )
    return _session_of(superuser, backend=MODEL_BACKEND), member.member_id


def _give_session(page: Any, live_server: Any, session: str) -> None:
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )


def _visit(page: Any, url: str) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.status < 400, (url, response and response.status)
    assert_the_policy(response.headers.get("content-security-policy"))
    page.wait_for_load_state("load")
    return page.evaluate("window.__violations")


def test_member_pages_run_without_violations(member_session, browser_page, live_server):
    violations = {"/login/": _visit(browser_page, live_server.url + "/login/")}
    _give_session(browser_page, live_server, member_session)
    for path in ["/", "/statements/", "/points/", "/account/", "/account/paper/"]:
        violations[path] = _visit(browser_page, live_server.url + path)
    assert {path: found for path, found in violations.items() if found} == {}


def test_the_back_office_runs_under_the_policy(staff_session, browser_page, live_server):
    session, member_pk = staff_session
    admin = live_server.url + "/backoffice/admin/"
    violations = {"login": _visit(browser_page, admin + "login/")}
    _give_session(browser_page, live_server, session)
    violations["dashboard"] = _visit(browser_page, live_server.url + "/backoffice/")
    violations["index"] = _visit(browser_page, admin)
    violations["members"] = _visit(browser_page, admin + "members/member/?q=a")
    violations["member"] = _visit(browser_page, admin + f"members/member/{member_pk}/change/")

    # The admin's own scripts loaded and run: its jQuery, and the sidebar toggle's handler.
    assert browser_page.evaluate("typeof django !== 'undefined' && typeof django.jQuery")
    toggle = browser_page.locator("#toggle-nav-sidebar")
    if toggle.count():
        before = browser_page.locator("#main").get_attribute("class") or ""
        toggle.click()
        assert (browser_page.locator("#main").get_attribute("class") or "") != before
    violations["audit trail"] = _visit(browser_page, admin + "audit/auditentry/")
    assert {page: found for page, found in violations.items() if found} == {}
