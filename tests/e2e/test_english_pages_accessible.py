"""The member pages in English, in real chromium at 390 px and at 1280 px: axe-core finds no
violation and the Nu Html Checker no error, and each page declares ``lang="en"`` (a screen reader
reads English text with the voice the page names)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_member_pages_accessible import (
    Checks,
    _log_in,
    _member_with_statements,
)

pytestmark = pytest.mark.browser


def test_the_member_pages_in_english_pass_axe_and_the_nu_checker(site, smtp_sink, checked_page):
    page: Any = checked_page
    checks = Checks(page)
    account, latest = _member_with_statements()
    _log_in(page, site, smtp_sink, None, account)
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Latest statement").wait_for()

    checks.check("top")
    page.goto(f"{site.url}/statements/")
    checks.check("statements")
    page.goto(f"{site.url}/statements/{latest}/")
    checks.check("statement")
    page.goto(f"{site.url}/points/")
    checks.check("points")
    page.goto(f"{site.url}/account/paper/")
    checks.check("paper")
    page.get_by_label("Stop paper statements").check()
    page.get_by_role("button", name="Change").click()
    page.get_by_role("heading", name="Confirm the change").wait_for()
    checks.check("paper confirm")

    assert [name for name, html in checks.documents.items() if '<html lang="en"' not in html] == []
    checks.assert_clean()
