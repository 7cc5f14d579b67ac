"""Production refuses to start on the embedded secrets (SPEC 4.2)."""

from __future__ import annotations

import os
import subprocess
import sys


def _start(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "CARD_HASH_KEY"}}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "meisai.settings"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_refuses_default_secrets():
    result = _start({"MEISAI_ENV": "production"})
    assert result.returncode != 0
    assert "SECRET_KEY is the embedded default" in result.stderr
    assert "CARD_HASH_KEY is the embedded default" in result.stderr


def test_production_starts_with_real_secrets():
    result = _start(
        {
            "MEISAI_ENV": "production",
            "SECRET_KEY": "s" * 64,
            "CARD_HASH_KEY": "k" * 40,
            "MEISAI_ALLOWED_HOSTS": "meisai.example.jp",
            "MEISAI_BASE_URL": "https://meisai.example.jp",
        }
    )
    assert result.returncode == 0, result.stderr


def test_embedded_default_needs_no_variable():
    result = _start({"MEISAI_ENV": "embedded"})
    assert result.returncode == 0, result.stderr
