"""Sweeps over the whole URL configuration (SPEC 3.10, 4.4).

Every route of ``get_resolver()`` — the admin's too, mounted under ``/backoffice/admin/`` — must
be named in ``CLASSIFICATION`` with the class of visitor it is for; a new route that nobody
classified fails ``test_every_route_is_classified`` with its pattern, and an entry that matches
no route any more fails it as stale. The sweeps then walk every classified route with sensible
arguments (a real month, a real and a forged emailed-link token, a real object id) and check:

* a route that takes a month answers another member the same 404 on the page, PDF and CSV;
* a staff route never answers 200 to a visitor or a cardholder;
* no GET changes anything but the log-type tables of ``ALLOWED_WRITES``;
* no POST without a CSRF token gets past the CSRF check;
* every answer carries the security headers, and every answer to a logged-in browser
  ``Cache-Control: no-store``.

Each sweep collects every breach and fails once, listing them all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.sites import site as admin_site
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from meisai.audit.models import SecurityEvent
from meisai.backoffice.models import ApprovalRequest
from meisai.core.models import Job
from meisai.members.models import Member
from meisai.statements.models import Statement
from tests.accounts.conftest import identity, start_registration
from tests.security.conftest import A_MERCHANT, FORGED_TOKEN, World, logged_in

pytestmark = pytest.mark.django_db

# --- the classification -----------------------------------------------------------------------

PUBLIC = "public"  # pages for anybody, logged in or not
MEMBER = "member"  # login required, a member's own data
MEMBER_MONTH = "member_month"  # a member route that takes a billing month (the IDOR sweep)
STAFF = "staff"  # the back office: staff only
TOKEN = "token"  # opened from an emailed link; the token is the credential
DEMO = "demo"  # the embedded default only (404 in production)
HEALTH = "health"  # load balancers
METRICS = "metrics"  # Prometheus, with its bearer token only (404 when none is configured)

#: Every route, by its name (``namespace:name``) or its full pattern; a pattern ending in ``*``
#: classifies every route under it that no more specific entry names.
CLASSIFICATION: dict[str, str] = {
    # The footer's language switch: POST only (a GET just redirects back), CSRF-checked.
    "set_language": PUBLIC,
    "core:healthz": HEALTH,
    "core:readyz": HEALTH,
    "core:metrics": METRICS,
    # Registration steps 3, 4 and 6 are anonymous; steps 4 and 6 work on the consent or the
    # registration the session names, never on one from the URL.
    "accounts:register": PUBLIC,
    "accounts:register_email": PUBLIC,
    "accounts:register_email_sent": PUBLIC,
    "accounts:register_confirm": PUBLIC,
    "accounts:register_completion_sent": PUBLIC,
    "accounts:register_identity": TOKEN,
    "accounts:register_complete": TOKEN,
    "accounts:reregister_confirm": TOKEN,
    "accounts:reregister_cancel": TOKEN,
    "accounts:login": PUBLIC,
    # Half-way through a login: the session's pending login, else back to /login/.
    "accounts:login_code": PUBLIC,
    # Its POST resends the pending login's code (else back to /login/); a GET is refused (405).
    "accounts:login_code_resend": PUBLIC,
    "accounts:forgot_password": PUBLIC,
    "accounts:password_reset": TOKEN,
    "accounts:forgot_id": PUBLIC,
    # GET shows the 「ログアウト」 button to anybody; only its POST logs out.
    "accounts:logout": PUBLIC,
    "accounts:account": MEMBER,
    "accounts:account_email": MEMBER,
    # The link sent to the new address works in any browser, logged in or not (SPEC 3.5).
    "accounts:email_confirm": TOKEN,
    "accounts:account_password": MEMBER,
    "accounts:account_message": MEMBER,
    "statements:top": MEMBER,
    "statements:list": MEMBER,
    "statements:csv_all": MEMBER,
    "statements:detail": MEMBER_MONTH,
    "statements:pdf": MEMBER_MONTH,
    "statements:csv": MEMBER_MONTH,
    "points:points": MEMBER,
    "magazines:list": MEMBER,
    # Magazines are the same for every member: the id names an issue, not anybody's data.
    "magazines:download": MEMBER,
    "members:paper": MEMBER,
    "notifications:outbox": DEMO,
    "notifications:outbox_detail": DEMO,
    # The staff console: every view wrapped in backoffice.access.staff_required ...
    "backoffice/*": STAFF,
    # ... except its login page (password, then TOTP), which must open for a visitor.
    "backoffice:login": PUBLIC,
    "backoffice:login_code": PUBLIC,
    # The whole admin is the back office ...
    "backoffice/admin/*": STAFF,
    # ... except its own login page, which must open for a visitor.
    "admin:login": PUBLIC,
}

#: Tables a GET may write, for whom, and why. Anything else a GET changes is a defect.
ALLOWED_WRITES: dict[str, tuple[frozenset[str], str]] = {
    "django_session": (
        frozenset({"visitor", "member", "staff"}),
        "the session itself: its idle expiry is pushed forward once a minute and a force-logged "
        "session gets its login time (accounts.middleware.SessionLimitMiddleware)",
    ),
    "accounts_throttlehit": (
        frozenset({"visitor", "member", "staff"}),
        "throttles count requests, not data (none counts a GET today)",
    ),
    "audit_securityevent": (
        frozenset({"member"}),
        "every view or download of a statement is a security event by design (SPEC 3.10)",
    ),
    "audit_auditentry": (
        frozenset({"staff"}),
        "every staff view of member data in the back office is an audit row by design "
        "(SPEC 3.10: the member list and record, the outbox list and a message)",
    ),
    "statements_statement.pdf_sha256": (
        frozenset({"member"}),
        "the digest of the first PDF served is recorded, so that a later rendering that "
        "differs is refused (SPEC 4.4)",
    ),
}
#: Columns kept apart in the snapshot so that ``ALLOWED_WRITES`` can allow them alone.
_SEPARATE_COLUMNS = {
    table: column for table, column in (key.split(".") for key in ALLOWED_WRITES if "." in key)
}


@dataclass(frozen=True)
class Route:
    pattern: str
    name: str | None

    def __str__(self) -> str:
        return f"/{self.pattern}" + (f" ({self.name})" if self.name else "")


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield Route(prefix + str(entry.pattern), namespace + entry.name if entry.name else None)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def _entry_matches(key: str, route: Route) -> bool:
    if key.endswith("*"):
        return route.pattern.startswith(key[:-1])
    return key in {route.name, route.pattern}


def classify(route: Route) -> str | None:
    exact = [key for key in CLASSIFICATION if not key.endswith("*") and _entry_matches(key, route)]
    if exact:
        return CLASSIFICATION[exact[0]]
    prefixes = sorted(
        (key for key in CLASSIFICATION if key.endswith("*") and _entry_matches(key, route)),
        key=len,
    )
    return CLASSIFICATION[prefixes[-1]] if prefixes else None


def test_every_route_is_classified():
    routes = all_routes()
    assert len(routes) > 100, "the walk missed the admin"
    unclassified = [str(route) for route in routes if classify(route) is None]
    stale = [key for key in CLASSIFICATION if not any(_entry_matches(key, r) for r in routes)]
    assert unclassified == [], "routes nobody classified: add them to CLASSIFICATION"
    assert stale == [], "CLASSIFICATION entries that match no route"


def test_every_route_that_takes_a_month_is_classified_member_month():
    takes_a_month = {str(r) for r in all_routes() if "<month:" in r.pattern}
    classified = {str(r) for r in all_routes() if classify(r) == MEMBER_MONTH}
    assert takes_a_month == classified
    assert len(classified) == 3  # the page, the PDF, the CSV


# --- concrete URLs ----------------------------------------------------------------------------

_CONVERTER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _admin_model(route: Route) -> Any:
    parts = route.pattern.removeprefix("backoffice/admin/").split("/")
    try:
        return apps.get_model(parts[0], parts[1])
    except (LookupError, IndexError):
        return None


def _admin_sampled(route: Route) -> bool:
    """The admin pages the sweeps open: everything of the site itself, and of each registered
    model its list and one record (every other model URL for members only, as a sample)."""
    model = _admin_model(route)
    if model is None:
        return True
    if route.name and route.name.endswith(("_changelist", "_change")):
        return True
    return model is Member


def urls_for(route: Route, world: World, *, month: str | None = None) -> list[str]:
    """The paths the sweeps open for ``route``; more than one where the arguments matter."""
    if route.pattern.startswith("backoffice/admin/") and not _admin_sampled(route):
        return []
    if route.name == "admin:app_list":
        return ["/backoffice/admin/members/"]
    if route.pattern.endswith("(?P<url>.*)$"):  # the admin's catch-all
        return ["/backoffice/admin/no-such-page/"]
    tokens = [FORGED_TOKEN]
    if route.name in world.tokens:
        tokens.append(world.tokens[route.name])
    months = [month] if month else [world.b_month, world.a_month]
    variants: list[str] = ["/" + route.pattern]
    for match in _CONVERTER.finditer(route.pattern):
        placeholder, name = match.group(0), match.group("name")
        values: list[str]
        if name == "month":
            values = months
        elif name == "token":
            values = tokens
        elif route.name == "magazines:download":
            values = [str(world.magazine.pk)]
        elif route.name == "notifications:outbox_detail":
            values = [str(world.outbox_message.pk)]
        elif name == "member_no":
            values = [world.a.member.member_no]
        elif name == "action":
            values = ["login_unlock"]
        elif name == "pk" and route.name and route.name.startswith("backoffice:month_"):
            model = (
                ApprovalRequest
                if "approval" in route.name
                or route.name
                in (
                    "backoffice:month_grant",
                    "backoffice:month_refuse",
                )
                else Job
            )
            first = model.objects.order_by("pk").values_list("pk", flat=True).first()
            values = [str(first if first is not None else 999999)]
        elif name == "content_type_id":
            values = [str(ContentType.objects.get_for_model(Member).pk)]
        elif name == "object_id":
            model = _admin_model(route) or Member
            first = model._base_manager.order_by("pk").values_list("pk", flat=True).first()
            values = [str(first if first is not None else 999999)]
        else:
            raise AssertionError(f"no sample value for {placeholder} in {route}")
        variants = [v.replace(placeholder, value, 1) for v in variants for value in values]
    return variants


def sweep(world: World, *, classes: set[str] | None = None) -> list[tuple[Route, str, str]]:
    """(route, its class, path) for every route of ``classes`` (all when None)."""
    found = []
    for route in all_routes():
        kind = classify(route)
        assert kind is not None, route
        if classes is None or kind in classes:
            found.extend((route, kind, path) for path in urls_for(route, world))
    return found


# --- the headers every answer carries ---------------------------------------------------------


def header_breaches(response: Any, what: str, *, private: bool) -> list[str]:
    """What ``response`` lacks of the security headers; ``private``: an answer to a logged-in
    browser or an emailed link's page, which must carry ``Cache-Control: no-store``."""
    breaches = []
    policy = response.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.split()}
    if directives.get("frame-ancestors") != ["'none'"]:
        breaches.append(f"{what}: Content-Security-Policy without frame-ancestors 'none'")
    if response.get("X-Content-Type-Options") != "nosniff":
        breaches.append(f"{what}: no X-Content-Type-Options: nosniff")
    if response.get("Referrer-Policy") != "same-origin":
        breaches.append(f"{what}: Referrer-Policy {response.get('Referrer-Policy')!r}")
    # Logged in, or the page of an emailed link: this person's alone (core.caching).
    if private and "no-store" not in response.get("Cache-Control", ""):
        breaches.append(
            f"{what}: private, Cache-Control {response.get('Cache-Control')!r} (no no-store)"
        )
    return breaches


# --- 2. another member's month ----------------------------------------------------------------


def test_a_month_of_another_member_is_the_same_404_on_page_pdf_and_csv(world):
    month_routes = [route for route in all_routes() if classify(route) == MEMBER_MONTH]
    b = logged_in(world.b)
    breaches: list[str] = []
    for route in month_routes:
        own = b.get(urls_for(route, world, month=world.b_month)[0])
        if own.status_code != 200:
            breaches.append(f"{route}: B's own month answers {own.status_code}")
        answers = {}
        for whose, month in (("A's", world.a_month), ("nobody's", world.nobodys_month)):
            path = urls_for(route, world, month=month)[0]
            response = b.get(path)
            answers[whose] = response
            body = b"".join(response.streaming_content) if response.streaming else response.content
            if response.status_code != 404:
                breaches.append(f"B GET {path} ({whose} month): {response.status_code}")
            if A_MERCHANT.encode() in body or A_MERCHANT.encode("cp932") in body:
                breaches.append(f"B GET {path}: A's data in the answer")
            breaches += header_breaches(response, f"B GET {path}", private=True)
        if answers["A's"]["Content-Type"] != answers["nobody's"]["Content-Type"]:
            breaches.append(f"{route}: A's month and nobody's answer differently")
    assert breaches == []
    a_statement = Statement.objects.get(pk=world.a_statement.pk)
    assert a_statement.pdf_sha256 == ""  # never rendered for B
    assert not SecurityEvent.objects.filter(member=world.a.member).exists()


# --- 3. staff routes --------------------------------------------------------------------------

_LOGIN_PAGES = ("/backoffice/admin/login/", "/backoffice/login/", "/login/")


def _refused(client: Client, response: Any) -> bool:
    """403, 404 or 405; or redirects that end on a login page (the admin's logout sends a
    visitor to the admin's index first, which sends them on to its login)."""
    for _ in range(3):
        if response.status_code in {403, 404, 405}:
            return True
        if response.status_code != 302:
            return False
        where = response["Location"]
        if where.startswith(_LOGIN_PAGES):
            return True
        response = client.get(where)
    return False


def test_staff_routes_refuse_visitors_and_cardholders(world):
    paths = [path for _, _, path in sweep(world, classes={STAFF})]
    assert len(paths) > 30, paths
    breaches: list[str] = []
    for who, client in (("visitor", Client()), ("cardholder", logged_in(world.b))):
        for path in paths:
            response = client.get(path)
            if not _refused(client, response):
                where = response.get("Location", "")
                breaches.append(f"{who} GET {path}: {response.status_code} {where}".rstrip())
            breaches += header_breaches(response, f"{who} GET {path}", private=who == "cardholder")
    assert breaches == []


def test_staff_routes_open_for_staff(world):
    """The other side of the sweep above: the sampled back office works for an operator, so the
    refusals are refusals, not broken pages."""
    staff = logged_in(world.staff)
    opened = []
    for route, _, path in sweep(world, classes={STAFF}):
        if route.name and route.name.endswith(("_changelist", "_change", "index", "dashboard")):
            if path.endswith("/999999/change/"):
                continue  # the model has no record to open
            response = staff.get(path)
            assert response.status_code == 200, (path, response.status_code)
            opened.append(path)
    assert len(opened) >= len(admin_site._registry) + 6  # lists, some records, index, dashboard


def test_member_routes_do_not_exist_for_staff(world):
    """A staff session is not a cardholder's: every member page and download answers 404 (the
    top page sends staff to their console)."""
    staff = logged_in(world.staff)
    breaches = []
    for route, _, path in sweep(world, classes={MEMBER, MEMBER_MONTH}):
        response = staff.get(path)
        expected = (302,) if route.name == "statements:top" else (404,)
        if response.status_code not in expected:
            breaches.append(f"staff GET {path}: {response.status_code}")
    assert breaches == []


# --- member, token, demo and health routes, as a visitor sees them -----------------------------


def test_each_class_answers_a_visitor_as_classified(world, settings):
    visitor = Client()
    breaches: list[str] = []
    for _, kind, path in sweep(world, classes={MEMBER, MEMBER_MONTH, TOKEN, HEALTH, METRICS}):
        response = visitor.get(path)
        status, where = response.status_code, response.get("Location", "")
        if kind in {MEMBER, MEMBER_MONTH} and not (
            status == 302 and where.startswith("/login/?next=")
        ):
            breaches.append(f"visitor GET {path} ({kind}): {status} {where}")
        if kind == TOKEN and FORGED_TOKEN in path and status != 404:
            breaches.append(f"visitor GET {path} (forged link): {status}")
        if kind == HEALTH and status != 200:
            breaches.append(f"visitor GET {path}: {status}")
        if kind == METRICS and status != 404:  # no MEISAI_METRICS_TOKEN in the tests
            breaches.append(f"visitor GET {path} (metrics): {status}")
        breaches += header_breaches(response, f"visitor GET {path}", private=kind == TOKEN)
    settings.MEISAI_DEMO_OUTBOX = False  # production
    for _, _, path in sweep(world, classes={DEMO}):
        if (status := visitor.get(path).status_code) != 404:
            breaches.append(f"production GET {path}: {status}")
    assert breaches == []


# --- 4. no GET changes state ------------------------------------------------------------------


def snapshot() -> dict[str, tuple[int, Any, str]]:
    """Per table: rows, highest primary key and a digest of every row (``_SEPARATE_COLUMNS``
    digested apart, as ``table.column``)."""
    state: dict[str, tuple[int, Any, str]] = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        apart = _SEPARATE_COLUMNS.get(meta.db_table)
        columns = [f.attname for f in meta.concrete_fields if f.column != apart]
        rows = list(model._base_manager.order_by("pk").values_list(*columns))
        top = rows[-1][columns.index(meta.pk.attname)] if rows else None
        state[meta.db_table] = (len(rows), top, hashlib.sha256(repr(rows).encode()).hexdigest())
        if apart:
            values = list(model._base_manager.order_by("pk").values_list(apart, flat=True))
            digest = hashlib.sha256(repr(values).encode()).hexdigest()
            state[f"{meta.db_table}.{apart}"] = (len(values), None, digest)
    return state


def changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {
        table for table in before.keys() | after.keys() if before.get(table) != after.get(table)
    }


def _clients(world: World) -> dict[str, Client]:
    return {"visitor": Client(), "member": logged_in(world.b), "staff": logged_in(world.staff)}


@pytest.mark.parametrize("who", ["visitor", "member", "staff"])
def test_no_get_changes_state(world, who):
    client = _clients(world)[who]
    allowed = {table for table, (roles, _) in ALLOWED_WRITES.items() if who in roles}
    breaches: list[str] = []
    written: set[str] = set()
    # /logout/ last, though its GET only shows the button: the walk keeps its session.
    for _, kind, path in sorted(sweep(world), key=lambda item: "logout" in item[2]):
        before = snapshot()
        response = client.get(path)
        if response.streaming:
            b"".join(response.streaming_content)  # a download is written while it streams
        after = snapshot()
        if forbidden := changed(before, after) - allowed:
            breaches.append(f"{who} GET {path} ({response.status_code}) wrote {sorted(forbidden)}")
        written |= changed(before, after)
        if response.status_code >= 500:
            breaches.append(f"{who} GET {path}: {response.status_code}")
        breaches += header_breaches(
            response, f"{who} GET {path}", private=who != "visitor" or kind == TOKEN
        )
    assert breaches == []
    if who == "member":  # the allowances are used, not dead letters
        assert {"audit_securityevent", "statements_statement.pdf_sha256"} <= written
    if who == "staff":
        assert "audit_auditentry" in written


# --- 5. POST without a CSRF token -------------------------------------------------------------

#: The words of meisai's CSRF failure page (core.views.csrf_failure).
CSRF_REFUSAL = "もう一度お手続きください"


@pytest.mark.parametrize("who", ["visitor", "member", "staff"])
def test_no_post_without_a_csrf_token_gets_through(world, who):
    client = {
        "visitor": lambda: Client(enforce_csrf_checks=True),
        "member": lambda: logged_in(world.b, enforce_csrf_checks=True),
        "staff": lambda: logged_in(world.staff, enforce_csrf_checks=True),
    }[who]()
    breaches: list[str] = []
    refused = 0
    for _, kind, path in sweep(world):
        before = snapshot()
        response = client.post(path, {"agree": "on", "step": "commit", "method": "paper"})
        after = snapshot()
        if response.status_code == 405:
            continue  # takes no POST at all
        if kind == STAFF and who != "staff" and _refused(client, response):
            # The console's upload checks who asks before CSRF (its size cap must see the body
            # first, Django's documented pattern): refused either way, and nothing written.
            refused += 1
        elif response.status_code != 403 or CSRF_REFUSAL not in response.content.decode():
            breaches.append(f"{who} POST {path} without token: {response.status_code}")
        else:
            refused += 1
        if forbidden := changed(before, after) - {"django_session"}:
            breaches.append(f"{who} POST {path} without token wrote {sorted(forbidden)}")
        breaches += header_breaches(
            response, f"{who} POST {path}", private=who == "member" or kind == TOKEN
        )
    assert breaches == []
    assert refused > 40


# --- 6. the headers, on the pages that matter most --------------------------------------------


def test_logged_in_pages_and_downloads_are_never_stored(world):
    """The statement page, its PDF and CSV, every お客様情報 page and the back office: a shared
    computer's browser cache or back button must not keep them."""
    member, staff = logged_in(world.b), logged_in(world.staff)
    month = world.b_month
    pages = {
        member: [
            "/",
            f"/statements/{month}/",
            f"/statements/{month}.pdf",
            f"/statements/{month}.csv",
            "/statements/all.csv",
            f"/magazines/{world.magazine.pk}.pdf",
            "/account/",
            "/account/email/",
            "/account/password/",
            "/account/message/",
            "/account/paper/",
        ],
        staff: ["/backoffice/", "/backoffice/admin/", "/backoffice/admin/members/member/"],
    }
    breaches: list[str] = []
    for client, paths in pages.items():
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, path
            breaches += header_breaches(response, f"GET {path}", private=True)
    assert breaches == []


def test_registration_half_way_and_emailed_link_pages_are_never_stored(world, cardholder):
    """Step 6 shows the card's last four digits, the email address, the login ID and the
    personal message to a browser that is not logged in; an email-change link shows the new
    address. Neither may stay in a shared computer's cache."""
    visitor = Client()
    assert visitor.post(start_registration(visitor), identity()).url == "/register/confirm/"
    step_6 = visitor.get("/register/confirm/")
    assert step_6.status_code == 200
    assert "岩手山が見える" in step_6.content.decode()
    email_change = Client().get(f"/account/email/confirm/{world.tokens['accounts:email_confirm']}/")
    assert "new.b@example.jp" in email_change.content.decode()
    for response, what in ((step_6, "step 6"), (email_change, "email-change link")):
        assert "no-store" in response["Cache-Control"], what
        assert header_breaches(response, what, private=True) == []


def test_static_files_stay_cacheable_for_a_logged_in_member(world):
    response = logged_in(world.b).get("/static/meisai/site.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert header_breaches(response, "GET site.css", private=False) == []
