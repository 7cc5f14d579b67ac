"""The independent checkers the browser tests run (package.json; ``scripts/setup --browser``
installs them): axe-core in the page, and the Nu Html Checker (vnu.jar) on served HTML.

* ``axe_violations(page)`` runs axe-core in the page as it stands and returns its violations of
  any impact, each as ``"rule (impact): target …"``. The page's context must be made with
  ``bypass_csp=True``: the policy refuses the injected script, as it should refuse any.
* ``html_errors(documents)`` validates ``{name: html}`` with vnu.jar and returns its errors as
  ``"name:line: message"``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def axe_violations(page: Any) -> list[str]:
    if not AXE.is_file():
        raise AssertionError(f"{AXE} is missing: run scripts/setup --browser")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): "
        + "; ".join(", ".join(node["target"]) for node in violation["nodes"])
        for violation in result["violations"]
    ]


def html_errors(documents: dict[str, str]) -> list[str]:
    if not VNU.is_file():
        raise AssertionError(f"{VNU} is missing: run scripts/setup --browser")
    with tempfile.TemporaryDirectory() as directory:
        paths = {}
        for index, (name, html) in enumerate(documents.items()):
            path = Path(directory) / f"{index:03d}.html"
            path.write_text(html, encoding="utf-8")
            paths[path.name] = name
        run = subprocess.run(
            [
                "java",
                "-jar",
                str(VNU),
                "--format",
                "json",
                "--errors-only",
                *sorted(str(Path(directory) / p) for p in paths),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    report = json.loads(run.stderr or run.stdout or '{"messages": []}')
    return [
        f"{paths.get(Path(m.get('url', '')).name, m.get('url'))}:{m.get('lastLine', '?')}: "
        f"{m.get('message')}"
        for m in report["messages"]
        if m.get("type") == "error"
    ]
