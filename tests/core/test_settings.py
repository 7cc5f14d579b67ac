"""Production refuses to start on the embedded secrets, or with mail that would leak (SPEC 4.2).

Settings are read once, at import: every test starts a fresh interpreter with the environment
it describes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: Variables of the surrounding environment that would change what these tests start.
_CLEARED = {"SECRET_KEY", "CARD_HASH_KEY", "EMAIL_URL", "MEISAI_TRUSTED_PROXIES"}

#: A production environment that starts; tests change one thing of it.
PRODUCTION = {
    "MEISAI_ENV": "production",
    "SECRET_KEY": "s" * 64,
    "CARD_HASH_KEY": "k" * 40,
    "MEISAI_ALLOWED_HOSTS": "meisai.example.jp",
    "MEISAI_BASE_URL": "https://meisai.example.jp",
    "EMAIL_URL": "smtp+tls://meisai:secret@relay.example.jp:587",
}


def _start(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "meisai.settings"},
        capture_output=True,
        text=True,
        check=False,
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_production_refuses_default_secrets():
    result = _start({"MEISAI_ENV": "production"})
    assert result.returncode != 0
    assert "SECRET_KEY is the embedded default" in result.stderr
    assert "CARD_HASH_KEY is the embedded default" in result.stderr


def test_production_starts_with_real_secrets():
    result = _start(PRODUCTION)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "email_url", ["console:", "file:///var/spool/meisai-mail", "locmem:", "CONSOLE:"]
)
def test_production_refuses_mail_that_stays_in_the_log_or_on_disk(email_url):
    """Registration and reset links and login codes would be readable in the log or the files."""
    result = _start({**PRODUCTION, "EMAIL_URL": email_url})

    assert result.returncode != 0
    last = _last_line(result)
    assert last.startswith(
        "django.core.exceptions.ImproperlyConfigured: production refuses to start: "
        "EMAIL_URL must be an SMTP relay"
    ), last


def test_production_refuses_the_embedded_mail_default():
    """With no EMAIL_URL at all the embedded default (the console) would serve."""
    env = {k: v for k, v in PRODUCTION.items() if k != "EMAIL_URL"}
    result = _start(env)

    assert result.returncode != 0
    assert "EMAIL_URL must be an SMTP relay" in _last_line(result)


def test_the_refusal_never_prints_the_relays_password():
    result = _start({**PRODUCTION, "EMAIL_URL": "smtpx://meisai:hunter2-relay@relay:25"})

    assert result.returncode != 0
    assert "EMAIL_URL" in _last_line(result)
    assert "hunter2-relay" not in result.stderr


@pytest.mark.parametrize(
    "email_url",
    ["smtp://relay.example.jp:25", "smtp+tls://u:p@relay.example.jp:587", "smtps://relay:465"],
)
def test_production_starts_with_an_smtp_relay(email_url):
    result = _start({**PRODUCTION, "EMAIL_URL": email_url})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("email_url", ["console:", "file:///tmp/meisai-mail"])
def test_the_embedded_default_keeps_console_and_file_mail(email_url):
    result = _start({"MEISAI_ENV": "embedded", "EMAIL_URL": email_url})
    assert result.returncode == 0, result.stderr


def test_embedded_default_needs_no_variable():
    result = _start({"MEISAI_ENV": "embedded"})
    assert result.returncode == 0, result.stderr
