"""Every response carries a strict Content-Security-Policy, and no page needs more (SPEC 3.10).

The policy: the site's own files only (``default-src 'self'``), scripts and styles from the site
or with the response's nonce, no plugins, no ``<base>``, no framing, forms posting only to the
site. Two walks prove it: every route of the URL configuration without an argument, answered
for a visitor, a member and a superuser, carries exactly that header; and a representative list
of pages with arguments (a statement, its PDF and CSV, a magazine, the registration form, the
back office's lists and records) carries it too, with HTML that the policy does not block: no
inline script or style without the nonce, no ``style`` attribute, no event-handler attribute,
no ``javascript:`` URL and nothing loaded from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
import time_machine
from django.contrib.admin.sites import site as admin_site
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from meisai.accounts.models import Account
from meisai.clock import JST
from meisai.magazines.models import MagazineIssue, MagazineSettings
from tests.backoffice.conftest import second_factor_passed
from tests.factories import (
    AccountFactory,
    CardFactory,
    MagazineIssueFactory,
    PointBalanceFactory,
    StatementFactory,
    statement_usage_line,
)

#: The policy as the header must state it, the nonce aside.
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
_NONCE_SOURCE = re.compile(r"^'nonce-([A-Za-z0-9+/=]+)'$")

#: 2025-05-12 10:00 JST: April 2025 (published 2025-04-14) is the latest statement.
NOW = dt.datetime(2025, 5, 12, 10, 0, tzinfo=JST)
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


#: The policy of a statement PDF's own response: the browser's viewer is a plugin, and a PDF (never
#: HTML) may embed itself (crbug.com/271452); every other directive is the policy's.
PDF_POLICY = {**POLICY, "object-src": ["'self'"]}


def assert_the_policy(header: str | None, *, expected: dict[str, list[str]] = POLICY) -> str | None:
    """Assert ``header`` is exactly the policy; return the nonce it allows, if any.

    A nonce is only in the header of a response whose page used one, and then the same one in
    ``script-src`` and ``style-src``.
    """
    assert header, "no Content-Security-Policy header"
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} twice in {header!r}"
        directives[name] = sources
    nonces = set()
    for name in ("script-src", "style-src"):
        for source in list(directives.get(name, [])):
            if match := _NONCE_SOURCE.match(source):
                nonces.add(match.group(1))
                directives[name].remove(source)
    assert directives == expected, header
    assert len(nonces) <= 1, header
    return nonces.pop() if nonces else None


class _PolicyBreaches(HTMLParser):
    """What in a page the policy would block (or that would load from elsewhere)."""

    _URL_ATTRIBUTES = {"src", "href", "action", "formaction", "data", "poster"}
    _FORBIDDEN_ELEMENTS = {"base", "object", "embed", "iframe", "frame", "applet"}
    _DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}

    def __init__(self, nonce: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.breaches: list[str] = []

    @staticmethod
    def _blocked_url(tag: str, attribute: str, url: str) -> bool:
        url = url.strip().lower()
        if url.startswith("javascript:"):
            return True  # inline script, whatever the element
        if tag == "a" and attribute == "href":
            return False  # a link to another site is a navigation, not a load
        other_origin = bool(re.match(r"^[a-z][a-z0-9+.-]*:", url)) or url.startswith("//")
        return other_origin and not url.startswith(("mailto:", "tel:"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in self._FORBIDDEN_ELEMENTS:
            self.breaches.append(f"<{tag}>")
        for name, value in values.items():
            if name == "style":
                self.breaches.append(f'<{tag} style="{value}">')
            elif name.startswith("on"):
                self.breaches.append(f"<{tag} {name}=…>")
            elif name in self._URL_ATTRIBUTES and self._blocked_url(tag, name, value):
                self.breaches.append(f'<{tag} {name}="{value}">')
        inline_script = tag == "script" and "src" not in values
        if inline_script and values.get("type", "").lower() in self._DATA_SCRIPT_TYPES:
            inline_script = False  # a data block: never run
        if (inline_script or tag == "style") and (
            self.nonce is None or values.get("nonce") != self.nonce
        ):
            self.breaches.append(f"inline <{tag}> without the response's nonce")


def policy_breaches(html: str, nonce: str | None) -> list[str]:
    parser = _PolicyBreaches(nonce)
    parser.feed(html)
    parser.close()
    return parser.breaches


def assert_served_under_the_policy(response, what: str) -> None:
    inline_pdf = response.get("Content-Type") == "application/pdf" and response.get(
        "Content-Disposition", ""
    ).startswith("inline;")
    nonce = assert_the_policy(
        response.get("Content-Security-Policy"), expected=PDF_POLICY if inline_pdf else POLICY
    )
    if response.get("Content-Type", "").startswith("text/html"):
        breaches = policy_breaches(response.content.decode(), nonce)
        assert breaches == [], (what, breaches)


# --- the data the pages show ------------------------------------------------------------------


@pytest.fixture
def member(db) -> Account:
    account = AccountFactory(member__name_kanji="盛岡 花子")
    card = CardFactory(member=account.member)
    for month, amount in (("2025-03", 3000), ("2025-04", 4000)):
        statement = StatementFactory(
            member=account.member,
            billing_month=month,
            usage_total=amount,
            line_count=1,
            published_at=dt.datetime(2025, int(month[-2:]), 14, 9, 0, tzinfo=JST),
            confirmed_at=dt.datetime(2025, int(month[-2:]), 10, 3, 0, tzinfo=JST),
        )
        statement_usage_line(statement, line_no=1, card=card, use_amount=amount)
    PointBalanceFactory(member=account.member)
    MagazineSettings.objects.update_or_create(pk=1, defaults={"enabled": True})
    MagazineIssueFactory()
    return account


@pytest.fixture
def superuser(db) -> Account:
    return AccountFactory(
        login_id="backoffice-admin",
        member=None,
        is_staff=True,
        is_superuser=True,
        source=Account.Source.STAFF,
    )


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # Rendered statements are cached under the member's id, which tests reuse.
    cache.clear()
    yield
    cache.clear()


# --- the walk over the URL configuration ------------------------------------------------------


def _plain(pattern) -> str | None:
    """The path a pattern matches when it takes no argument; None when it takes one."""
    if isinstance(pattern, RoutePattern):
        route = str(pattern)
        return None if "<" in route else route
    if isinstance(pattern, RegexPattern):
        regex = str(pattern).removeprefix("^").removesuffix("$").removesuffix(r"\Z")
        return None if re.search(r"[()\[\]\\?*+|{}.]", regex) else regex
    return None


def routes_without_arguments(patterns=None, prefix: str = "/") -> Iterator[str]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        part = _plain(entry.pattern)
        if part is None:
            continue
        if isinstance(entry, URLResolver):
            yield from routes_without_arguments(entry.url_patterns, prefix + part)
        elif isinstance(entry, URLPattern):
            yield prefix + part


def test_the_walk_reaches_every_part_of_the_site():
    routes = set(routes_without_arguments())
    expected = {
        "/healthz",
        "/login/",
        "/register/",
        "/statements/",
        "/points/",
        "/magazines/",
        "/account/",
        "/account/paper/",
        "/backoffice/",
        "/backoffice/admin/",
        "/backoffice/admin/login/",
        "/backoffice/admin/members/member/",
        "/i18n/setlang/",
    }
    assert expected <= routes, expected - routes


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("who", ["visitor", "member", "superuser"])
def test_every_route_answers_with_the_policy(client, member, superuser, who):
    if who == "member":
        client.force_login(member)
    elif who == "superuser":
        client.force_login(superuser, backend=MODEL_BACKEND)
        second_factor_passed(client, superuser)
    # Logging out last: the rest of the walk keeps its session.
    routes = sorted(routes_without_arguments(), key=lambda path: "logout" in path)
    assert len(routes) > 30, routes
    for path in routes:
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
        assert_served_under_the_policy(response, f"{who} GET {path}")


# --- pages with arguments, and what their HTML asks of the browser ---------------------------


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_member_pages_and_downloads_are_served_under_the_policy(client, member):
    magazine = MagazineIssue.objects.get()
    client.force_login(member)
    pages = [
        "/",
        "/statements/",
        "/statements/2025-04/",
        "/statements/2025-04.pdf",
        "/statements/2025-04.csv",
        "/statements/all.csv",
        "/points/",
        "/magazines/",
        f"/magazines/{magazine.pk}.pdf",
        "/account/",
        "/account/email/",
        "/account/password/",
        "/account/message/",
        "/account/paper/",
        "/statements/2024-01/",  # outside the window: the 404 page
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code in {200, 404}, (path, response.status_code)
        assert_served_under_the_policy(response, path)
    assert b"<svg" in client.get("/statements/").content  # the chart is inline SVG, allowed

    confirm = client.post("/account/paper/", {"step": "confirm", "method": "web"})
    assert_served_under_the_policy(confirm, "POST /account/paper/")


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    "kind",
    [
        "statement",
        "magazine",
    ],
)
def test_a_statement_pdf_opens_in_the_viewer_and_a_magazine_is_a_download(client, member, kind):
    """Chrome shows an inline PDF in its viewer, an ``<embed>`` that ``object-src 'none'`` blocks
    on the PDF's own response (crbug.com/271452). 「PDFで見る」 opens the statement in the viewer,
    so its response allows ``object-src 'self'`` and nothing else more; a magazine stays a
    download under the full policy."""
    client.force_login(member)
    path = {
        "statement": "/statements/2025-04.pdf",
        "magazine": f"/magazines/{MagazineIssue.objects.get().pk}.pdf",
    }[kind]
    response = client.get(path)
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    if kind == "statement":
        assert disposition.startswith("inline;"), disposition
        assert_the_policy(response["Content-Security-Policy"], expected=PDF_POLICY)
    else:
        assert disposition.startswith("attachment;"), disposition
        assert_the_policy(response["Content-Security-Policy"])


@pytest.mark.django_db
def test_registration_and_recovery_pages_are_served_under_the_policy(client):
    from tests.accounts.conftest import start_registration

    pages = ["/login/", "/register/", "/register/email/", "/login/forgot-password/"]
    pages += ["/login/forgot-id/", "/static/meisai/site.css", "/no-such-page/"]
    for path in pages:
        assert_served_under_the_policy(client.get(path), path)
    identity = start_registration(client)
    response = client.get(identity)
    assert response.status_code == 200
    assert_served_under_the_policy(response, "the identity step")
    # A form with errors renders differently: still nothing inline.
    refused = client.post(identity, {"card_number": "1"})
    assert_served_under_the_policy(refused, "the identity step with errors")
    assert_served_under_the_policy(client.post("/login/", {"username": "x"}), "failed login")


@pytest.mark.django_db
def test_the_demo_outbox_is_served_under_the_policy(client):
    """The embedded default's outbox pages (production has none)."""
    from meisai.notifications.models import OutboxMessage
    from tests.accounts.conftest import start_registration

    start_registration(client)
    message = OutboxMessage.objects.latest("id")
    for path in ("/demo/outbox/", f"/demo/outbox/{message.pk}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_served_under_the_policy(response, path)


def _first_record(changelist_html: str, changelist_path: str) -> str | None:
    match = re.search(rf'href="({re.escape(changelist_path)}[^"?#]+/change/)"', changelist_html)
    return match.group(1) if match else None


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_back_office_is_served_under_the_policy(client, member, superuser):
    """Django's admin keeps its scripts in files (data attributes, no inline code) in 5.2; this
    walks the staff login (the admin's sends there), the index, every list and the first record
    of each, and the dashboard."""
    assert client.get("/backoffice/admin/login/").url.startswith("/backoffice/login/")
    login = client.get("/backoffice/login/")
    assert login.status_code == 200
    assert_served_under_the_policy(login, "staff login")

    client.force_login(superuser, backend=MODEL_BACKEND)
    second_factor_passed(client, superuser)
    pages = ["/backoffice/", "/backoffice/admin/"]
    records = 0
    for model in admin_site._registry:
        meta = model._meta
        changelist = f"/backoffice/admin/{meta.app_label}/{meta.model_name}/"
        response = client.get(changelist)
        assert response.status_code == 200, changelist
        assert_served_under_the_policy(response, changelist)
        record = _first_record(response.content.decode(), changelist)
        if record:
            pages.append(record)
            records += 1
        # The list with a filter and a search open renders more of the admin's widgets.
        pages.append(f"{changelist}?q=a")
    assert records >= 3  # products, members, audit entries at least
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_served_under_the_policy(response, path)


# --- the checker itself ---------------------------------------------------------------------


def test_the_checker_finds_what_the_policy_blocks():
    page = (
        '<script>alert(1)</script><script src="/static/x.js"></script>'
        '<script type="application/json">{}</script><style>p{}</style>'
        '<style nonce="abc">p{}</style><p style="color:red" onclick="x()">'
        '<a href="javascript:x()">x</a><a href="https://example.jp/">ok</a>'
        '<img src="https://tracker.example/x.gif"><object data="/x"></object>'
    )
    assert policy_breaches(page, nonce="abc") == [
        "inline <script> without the response's nonce",
        "inline <style> without the response's nonce",
        '<p style="color:red">',
        "<p onclick=…>",
        '<a href="javascript:x()">',
        '<img src="https://tracker.example/x.gif">',
        "<object>",
    ]
    assert policy_breaches('<script nonce="abc">x()</script>', nonce="abc") == []


def test_the_policy_check_refuses_a_weaker_header():
    with pytest.raises(AssertionError):
        assert_the_policy("default-src 'self'; script-src 'self' 'unsafe-inline'")
    with pytest.raises(AssertionError):
        assert_the_policy(None)
    header = (
        "default-src 'self'; script-src 'self' 'nonce-q1w2'; style-src 'self' 'nonce-q1w2'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    assert assert_the_policy(header) == "q1w2"


def test_an_inline_script_with_the_nonce_is_allowed_by_that_response_only(rf):
    """The way out for an inline ``<script>`` or ``<style>`` that cannot be a file: the
    ``CSP_NONCE`` context variable, which puts that response's nonce in its header."""
    from csp.middleware import CSPMiddleware
    from django.http import HttpResponse
    from django.template import RequestContext, Template

    template = Template('<script nonce="{{ CSP_NONCE }}">start()</script>')

    def view(request):
        return HttpResponse(template.render(RequestContext(request)))

    middleware = CSPMiddleware(view)
    first, second = middleware(rf.get("/")), middleware(rf.get("/"))
    nonce = assert_the_policy(first["Content-Security-Policy"])
    assert nonce and policy_breaches(first.content.decode(), nonce) == []
    assert assert_the_policy(second["Content-Security-Policy"]) not in {None, nonce}
