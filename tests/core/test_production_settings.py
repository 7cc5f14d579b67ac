"""What production settings send to a browser, and which proxy headers they believe (SPEC 3.10).

Settings are read at import, so each case runs in a fresh interpreter with the production
environment (a migrated SQLite file of its own) and reports, as JSON, the settings and what a
few requests answered: the ``__Host-`` cookies, the Content-Security-Policy, the demo outbox's 404
and the scheme believed with and without ``MEISAI_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.test_content_security_policy import assert_the_policy
from tests.core.test_settings import PRODUCTION

ROOT = Path(__file__).resolve().parents[2]

#: Runs in the child: migrate a fresh database, make a few requests, print what came back.
_PROBE = r"""
import json, django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test import Client, override_settings

call_command("migrate", verbosity=0)
# Production's hashed static names need a collectstatic first; plain names change nothing here.
override_settings(STORAGES={
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}).enable()
host = {"HTTP_HOST": "meisai.example.jp"}

def cookies(response):
    return {
        name: {"secure": bool(m["secure"]), "path": m["path"], "domain": m["domain"],
               "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
        for name, m in response.cookies.items()
    }

browser = Client()
login = browser.get("/login/", secure=True, **host)
terms = browser.post("/register/", {"agree": "on"}, secure=True, **host)
outbox = browser.get("/demo/outbox/", secure=True, **host)
forwarded = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https", **host)
print(json.dumps({
    "settings": {
        name: getattr(settings, name, None)
        for name in (
            "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE", "SESSION_COOKIE_PATH", "CSRF_COOKIE_PATH",
            "SESSION_COOKIE_DOMAIN", "CSRF_COOKIE_DOMAIN", "SECURE_PROXY_SSL_HEADER",
            "MEISAI_TRUSTED_PROXIES", "MEISAI_DEMO_OUTBOX",
        )
    },
    "login": {"status": login.status_code, "cookies": cookies(login),
              "csp": login.get("Content-Security-Policy")},
    "terms": {"status": terms.status_code, "cookies": cookies(terms)},
    "outbox": {"status": outbox.status_code, "csp": outbox.get("Content-Security-Policy")},
    "forwarded": {"status": forwarded.status_code, "location": forwarded.get("Location")},
    "forwarded_csp": forwarded.get("Content-Security-Policy"),
}))
"""


def _probe(tmp_path: Path, **variables: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(PRODUCTION)
    env.update(
        DJANGO_SETTINGS_MODULE="meisai.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'meisai.sqlite3'}",
        MEISAI_STATIC_ROOT=str(tmp_path / "static"),
        MEISAI_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    env.pop("MEISAI_TRUSTED_PROXIES", None)
    env.update(variables)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def no_proxy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _probe(tmp_path_factory.mktemp("no-proxy"))


@pytest.fixture(scope="module")
def one_proxy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _probe(tmp_path_factory.mktemp("one-proxy"), MEISAI_TRUSTED_PROXIES="1")


# --- cookies -------------------------------------------------------------------------------------


def test_session_and_csrf_cookies_carry_the_host_prefix(no_proxy):
    settings = no_proxy["settings"]
    assert settings["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert settings["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
    # What the prefix demands, or the browser drops the cookie: Secure, Path=/, no Domain.
    assert settings["SESSION_COOKIE_SECURE"] is settings["CSRF_COOKIE_SECURE"] is True
    assert settings["SESSION_COOKIE_PATH"] == settings["CSRF_COOKIE_PATH"] == "/"
    assert settings["SESSION_COOKIE_DOMAIN"] is settings["CSRF_COOKIE_DOMAIN"] is None


def test_the_browser_receives_host_prefixed_cookies(no_proxy):
    """The login page sets the CSRF cookie; registration's step 3 starts the session."""
    assert no_proxy["login"]["status"] == 200
    assert no_proxy["terms"]["status"] == 302
    sent = {**no_proxy["login"]["cookies"], **no_proxy["terms"]["cookies"]}
    assert {"__Host-csrftoken", "__Host-sessionid"} <= set(sent)
    assert not {"sessionid", "csrftoken"} & set(sent)
    for name in ("__Host-csrftoken", "__Host-sessionid"):
        assert sent[name] == {
            "secure": True,
            "path": "/",
            "domain": "",
            "httponly": True,
            "samesite": "Lax",
        }, name


# --- Content-Security-Policy and the demo outbox ---------------------------------------------


def test_production_pages_carry_the_policy(no_proxy):
    assert_the_policy(no_proxy["login"]["csp"])
    assert_the_policy(no_proxy["outbox"]["csp"])
    assert_the_policy(no_proxy["forwarded_csp"])  # the redirect to https too


def test_the_demo_outbox_does_not_exist_in_production(no_proxy):
    assert no_proxy["settings"]["MEISAI_DEMO_OUTBOX"] is False
    assert no_proxy["outbox"]["status"] == 404


# --- reverse proxies -------------------------------------------------------------------------


def test_without_a_trusted_proxy_x_forwarded_proto_is_ignored(no_proxy):
    """Anybody can write the header; with no proxy to set it, a plain-HTTP request claiming
    https is still plain HTTP, and is sent to https."""
    assert no_proxy["forwarded"] == {
        "status": 301,
        "location": "https://meisai.example.jp/login/",
    }
    assert no_proxy["settings"]["SECURE_PROXY_SSL_HEADER"] is None
    assert no_proxy["settings"]["MEISAI_TRUSTED_PROXIES"] == 0


def test_behind_a_trusted_proxy_x_forwarded_proto_is_believed(one_proxy):
    assert one_proxy["settings"]["MEISAI_TRUSTED_PROXIES"] == 1
    assert one_proxy["settings"]["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert one_proxy["forwarded"] == {"status": 200, "location": None}


def _settings_of(variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MEISAI_TRUSTED_PROXIES"}
    env.update(variables, DJANGO_SETTINGS_MODULE="meisai.settings")
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, django; django.setup(); from django.conf import settings;"
            " print(json.dumps([settings.MEISAI_TRUSTED_PROXIES,"
            " settings.SECURE_PROXY_SSL_HEADER]))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, [0, None]), ("0", [0, None]), ("2", [2, ["HTTP_X_FORWARDED_PROTO", "https"]])],
)
def test_trusted_proxies_in_the_embedded_default(value, expected):
    result = _settings_of({} if value is None else {"MEISAI_TRUSTED_PROXIES": value})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


@pytest.mark.parametrize("value", ["-1", "one", "1.5", ""])
def test_a_bad_proxy_count_stops_the_start_with_one_line_naming_it(value):
    result = _settings_of({"MEISAI_TRUSTED_PROXIES": value})

    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "django.core.exceptions.ImproperlyConfigured: MEISAI_TRUSTED_PROXIES "
    ), last
