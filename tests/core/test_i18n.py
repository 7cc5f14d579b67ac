"""Japanese by default, English only when chosen with the footer switch, and a catalogue that
translates every message the marked pages use (docs/i18n.md)."""

from __future__ import annotations

import gettext as gnu_gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import include, path
from django.utils import translation

from meisai.statements.models import Statement
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

PACKAGE = Path(settings.BASE_DIR)
CATALOGUE = PACKAGE / "locale" / "en" / "LC_MESSAGES" / "django.po"
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _broken(request):
    Statement.objects.get(pk=-1)  # raises DoesNotExist: an unexpected error


# Used by the tests marked ``pytest.mark.urls(__name__)``: the site plus a view that breaks.
urlpatterns = [path("broken/", _broken), path("", include("meisai.urls"))]
handler404 = "meisai.core.views.page_not_found"
handler500 = "meisai.core.views.server_error"


def _token(page: str) -> str:
    """The CSRF token of the page's first form (every form of a page carries the same secret)."""
    return _CSRF.findall(page)[0]


def choose(client: Client, language: str, *, on: str = "/login/") -> None:
    """Press the footer's language button on page ``on``, as a browser would (CSRF enforced)."""
    page = client.get(on).content.decode()
    token = _CSRF.findall(page)[-1]  # the footer's form is the page's last
    response = client.post(
        "/i18n/setlang/", {"language": language, "next": on, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert response.url == on


@pytest.fixture
def browser() -> Client:
    """A client that, like a browser posting a form, must send the CSRF token."""
    return Client(enforce_csrf_checks=True)


def test_pages_are_japanese_even_when_the_browser_asks_for_english(browser):
    response = browser.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    page = response.content.decode()
    assert '<html lang="ja">' in page
    assert "<h1>ログイン</h1>" in page
    assert "ログインIDをお忘れの方" in page
    assert "Log in" not in page
    assert response["Content-Language"] == "ja"
    assert "Accept-Language" not in response.get("Vary", "")


def test_a_language_cookie_the_site_does_not_offer_falls_back_to_japanese(browser):
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"

    response = browser.get("/login/")

    assert response["Content-Language"] == "ja"
    assert "<h1>ログイン</h1>" in response.content.decode()


def test_the_footer_offers_both_languages_by_their_own_names(browser):
    page = browser.get("/login/").content.decode()

    assert 'action="/i18n/setlang/"' in page
    assert 'method="post"' in page
    assert 'name="language" value="ja" lang="ja" aria-pressed="true">日本語</button>' in page
    assert 'name="language" value="en" lang="en">English</button>' in page
    assert 'name="next" value="/login/"' in page


def test_after_choosing_english_the_login_page_is_english(browser):
    choose(browser, "en")

    cookie = browser.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "en"
    assert cookie["max-age"] == settings.LANGUAGE_COOKIE_AGE
    response = browser.get("/login/", HTTP_ACCEPT_LANGUAGE="ja")
    page = response.content.decode()
    assert response["Content-Language"] == "en"
    assert '<html lang="en">' in page
    assert "<title>Log in | 日専連パートナーズ</title>" in page
    assert "<h1>Log in</h1>" in page
    assert '<label for="id_username">Login ID</label>' in page
    assert '<label for="id_password">Password</label>' in page
    assert "Forgot your login ID?" in page
    assert "New to Web Statements?" in page
    assert "日専連パートナーズ Web Statements" in page
    assert "ログイン" not in page


def test_a_failed_login_is_explained_in_english(browser):
    choose(browser, "en")
    page = browser.get("/login/").content.decode()

    response = browser.post(
        "/login/",
        {"username": "nobody", "password": "wrong-password", "csrfmiddlewaretoken": _token(page)},
    )

    assert "The login ID or password is incorrect." in response.content.decode()


@pytest.mark.urls(__name__)
def test_after_choosing_english_the_error_pages_are_english(browser):
    choose(browser, "en")

    not_found = browser.get("/no-such-page/")
    browser.raise_request_exception = False
    broken = browser.get("/broken/")

    assert not_found.status_code == 404
    page = not_found.content.decode()
    assert '<h1 id="error-heading">Page not found</h1>' in page
    assert "Back to the home page" in page
    assert "Error code: 404" in page
    assert broken.status_code == 500
    assert "We are sorry: something went wrong on our side." in broken.content.decode()


def test_choosing_japanese_again_switches_back(browser):
    choose(browser, "en")
    choose(browser, "ja")

    assert "<h1>ログイン</h1>" in browser.get("/login/").content.decode()


def test_the_switch_refuses_a_post_without_its_csrf_token(browser):
    response = browser.post("/i18n/setlang/", {"language": "en", "next": "/login/"})

    assert response.status_code == 403
    assert settings.LANGUAGE_COOKIE_NAME not in browser.cookies
    assert "<h1>ログイン</h1>" in browser.get("/login/").content.decode()


def test_the_top_page_follows_the_choice(browser):
    account = AccountFactory(personal_message="さくらの季節", member__name_kanji="盛岡 花子")
    browser.force_login(account)

    japanese = browser.get("/").content.decode()
    choose(browser, "en", on="/")
    english = browser.get("/").content.decode()

    assert "<h1>盛岡 花子 様</h1>" in japanese
    assert "最新のご請求" in japanese
    assert "<h1>Welcome, 盛岡 花子</h1>" in english
    assert "Your personal message: <strong>さくらの季節</strong>" in english
    assert "Latest statement" in english
    assert '<a href="/statements/">Statements</a>' in english
    assert "最新のご請求" not in english


# --- the catalogue -------------------------------------------------------------------------------


def _gettext_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=True)


def test_every_message_of_the_catalogue_has_its_english_and_is_compiled(tmp_path):
    """An empty or fuzzy msgstr would silently show Japanese; so would a stale .mo."""
    assert _gettext_tool("msgattrib", "--untranslated", str(CATALOGUE)).stdout == ""
    assert _gettext_tool("msgattrib", "--only-fuzzy", str(CATALOGUE)).stdout == ""
    compiled = tmp_path / "django.mo"
    statistics = _gettext_tool(
        "msgfmt", "--check", "--statistics", "-o", str(compiled), str(CATALOGUE)
    ).stderr
    assert re.fullmatch(r"\d+ translated messages\.\n", statistics), statistics
    with compiled.open("rb") as mo:
        messages = gnu_gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]
    # A plural message is stored once per form, as (msgid, n); a context one as "context\x04msgid".
    messages = {key: msgstr for key, msgstr in messages.items() if key}
    singular = {key for key in messages if isinstance(key, str)}
    plural = {key[0] for key in messages if isinstance(key, tuple)}
    assert len(singular) + len(plural) == int(statistics.split()[0])

    with translation.override("en"):
        served = {key: _served(key) for key in messages}
    assert served == messages, "the compiled catalogue is stale: run scripts/setup"


def _served(key: str | tuple[str, int]) -> str:
    """What Django serves for a key of the compiled catalogue."""
    if isinstance(key, tuple):
        msgid, form = key
        return translation.ngettext(msgid, msgid, 1 if form == 0 else 2)
    if "\x04" in key:
        context, msgid = key.split("\x04")
        return translation.pgettext(context, msgid)
    return translation.gettext(key)


def test_makemessages_finds_no_message_missing_from_the_catalogue(tmp_path, monkeypatch, settings):
    """The marked pages and the catalogue agree: nothing new, nothing obsolete.

    makemessages writes into the ``locale`` directory beside the sources it reads, so it runs on
    a copy of the package and its catalogue, never touching the real one."""
    package = tmp_path / "meisai"
    shutil.copytree(
        PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__", "static", "*.mo")
    )
    copy = package / CATALOGUE.relative_to(PACKAGE)
    settings.LOCALE_PATHS = [package / "locale"]
    monkeypatch.chdir(package)

    call_command("makemessages", locale=["en"], add_location="file", verbosity=0)

    assert _gettext_tool("msgattrib", "--untranslated", str(copy)).stdout == ""
    assert _gettext_tool("msgattrib", "--only-fuzzy", str(copy)).stdout == ""
    assert _gettext_tool("msgattrib", "--only-obsolete", str(copy)).stdout == ""
    assert copy.read_text().count("\nmsgid ") == CATALOGUE.read_text().count("\nmsgid ")
