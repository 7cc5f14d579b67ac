"""English is complete: no text a member sees is left out of the catalogue (docs/i18n.md).

Three checks, each over what the sources hold today rather than a list of pages known to be good:

* every member-facing template has no Japanese outside ``{% translate %}``,
  ``{% blocktranslate %}`` and ``_("…")`` (the template list is every template of the package,
  minus the back office and the staff-only emails);
* in member-facing Python modules every Japanese string literal is the message of a
  ``gettext`` call (an AST check), or is exempted below with its reason;
* every message ``makemessages`` extracts has its English: ``tests/core/test_i18n.py``
  (``test_makemessages_finds_no_message_missing_from_the_catalogue``) runs it on a copy.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest
from django.conf import settings

PACKAGE = Path(settings.BASE_DIR)

#: Hiragana, katakana, CJK ideographs and the full-width forms: what only Japanese text holds.
#: The middle dot ・ is left out: the footer separates its items with it in both languages.
JAPANESE = re.compile(r"[\u3000-\u30fa\u30fc-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")

# --- templates -----------------------------------------------------------------------------------

#: Templates no member sees, as path patterns under the package.
STAFF_TEMPLATES = (
    "backoffice/templates/**",  # the operator console is Japanese only (docs/i18n.md)
    "notifications/templates/notifications/email/operators_month_not_closed/*",  # to operators
    # The demo outbox shows the emails as they were sent; it is off in production.
    "notifications/templates/notifications/outbox_*.html",
)

_MARKED = re.compile(
    r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}"
    r"|\{#.*?#\}"
    r"|\{%\s*blocktrans(?:late)?\b.*?\{%\s*endblocktrans(?:late)?\s*%\}"
    r"|\{%\s*trans(?:late)?\s+(?:\"[^\"]*\"|'[^']*').*?%\}"
    r"|\b_\((?:\"[^\"]*\"|'[^']*')\)",
    re.DOTALL,
)


def _matches(relative: Path, patterns: tuple[str, ...]) -> bool:
    """Whether ``relative`` matches a pattern (``*`` crosses folders, as in ``fnmatch``)."""
    return any(fnmatch.fnmatchcase(str(relative), pattern) for pattern in patterns)


def _templates() -> list[Path]:
    found = sorted(
        path.relative_to(PACKAGE)
        for path in PACKAGE.glob("**/templates/**/*")
        if path.is_file() and path.suffix in {".html", ".txt"}
    )
    assert found, "no templates found"
    return found


def member_templates() -> list[Path]:
    return [path for path in _templates() if not _matches(path, STAFF_TEMPLATES)]


def untranslated_template_text(source: str) -> list[str]:
    """The lines of ``source`` that still hold Japanese once every marked text is taken out."""
    unmarked = _MARKED.sub("", source)
    return [line.strip() for line in unmarked.splitlines() if JAPANESE.search(line)]


@pytest.mark.parametrize("template", member_templates(), ids=str)
def test_a_member_facing_template_has_no_japanese_outside_translate(template):
    assert untranslated_template_text((PACKAGE / template).read_text()) == []


def test_the_template_check_catches_one_unmarked_sentence():
    marked = (
        '{% load i18n %}<h1>{% translate "ログイン" %}</h1>{# 説明 #}'
        "{% blocktranslate with n=n %}{{ n }}件{% endblocktranslate %}"
        '{% include "x.html" with label=_("送信") %}'
    )

    assert untranslated_template_text(marked) == []
    assert untranslated_template_text(marked + "\n<p>ご利用ありがとうございます。</p>") == [
        "<p>ご利用ありがとうございます。</p>"
    ]


def test_the_template_list_leaves_out_only_staff_templates():
    listed = set(member_templates())

    assert Path("accounts/templates/accounts/forgot_id.html") in listed
    assert Path("templates/base.html") in listed
    assert Path("notifications/templates/notifications/email/password_reset/body.txt") in listed
    assert Path("members/templates/members/paper.html") in listed
    assert Path("points/templates/points/points.html") in listed
    assert Path("statements/templates/statements/_statement_body.html") in listed
    assert (
        Path("notifications/templates/notifications/email/delivery_preference_changed/body.html")
        in listed
    )
    assert Path("backoffice/templates/backoffice/console.html") not in listed
    assert not any("operators_month_not_closed" in str(path) for path in listed)


# --- Python modules ------------------------------------------------------------------------------

#: Modules whose Japanese no member reads, with the reason.
STAFF_MODULES = {
    "backoffice/**": "the operator console is Japanese only",
    "imports/**": "the core system's file formats and the operators' import reports",
    "demo/**": "the demo data (names, shops) is data, not wording",
    "audit/**": "the audit trail is read by operators",
    "**/migrations/*.py": "migrations hold the models' Japanese as the database saw it",
    "**/management/**": "commands answer operators on the command line",
    "**/admin.py": "the Django admin is for staff",
    "**/apps.py": "app names are shown in the admin only",
    "**/models.py": (
        "field names, help texts and choices are admin text and stored data; member pages "
        "translate the few labels they show where they show them (statements/formatting.py)"
    ),
    "settings.py": "configuration",
    "config.py": "configuration: the defaults of the issuer's settings are data",
    "schedules.py": "job schedules",
    "statements/close.py": "the monthly close reports to operators",
    "statements/publish.py": "publication reports to operators",
    "statements/purge.py": "the purge of old months reports to operators",
    "statements/exports.py": "staff exports",
    "statements/month_rules.py": "refusals of the close and publication, shown to operators",
    "statements/fees.py": "the paper fee's rule; no text",
    "accounts/staff_changes.py": "changes made by operators, refused in Japanese to them",
    "accounts/exports.py": "staff exports",
    "notifications/sender.py": "the sender's log",
    "core/progress.py": "job progress shown to operators",
    "core/cp932.py": "the characters cp932 cannot hold, as data",
    "accounts/hashers.py": "the hasher's description, for operators",
    "accounts/login_ids.py": "the allowed login ID characters, as data",
    "magazines/services.py": "the magazine upload's refusals, shown to operators",
    "points/management/**": "commands",
}

#: Japanese literals in member-facing modules that are data or never shown, with the reason.
DATA_LITERALS = {
    # The Japanese forms of amounts, dates and months; statements/formatting.py picks the
    # English ones when English is chosen (and the PDF keeps these).
    ("statements/formatting.py", "月火水木金土日"),
    ("statements/formatting.py", "ポイント"),
    ("statements/formatting.py", "年"),
    ("statements/formatting.py", "月"),
    ("statements/formatting.py", "日("),
    ("statements/formatting.py", ")"),
    ("statements/formatting.py", "円"),
    ("statements/formatting.py", "月請求分"),
    ("statements/formatting.py", "日 "),
    ("statements/formatting.py", "月号"),
    ("statements/formatting.py", "万"),  # the chart's short amounts (12.3万)
    # BillingMonth.label: the Japanese label of staff pages, commands and the PDF; member pages
    # print statements.formatting.statement_month.
    ("billing_calendar.py", "年"),
    ("billing_calendar.py", "月請求分"),
    # Probe values of the one-query email path's self-check (a name with characters HTML
    # escapes); never sent.
    ("notifications/services.py", "<盛岡 & \"太郎\">  'x'\n"),
}


def _member_modules() -> list[Path]:
    modules = sorted(path.relative_to(PACKAGE) for path in PACKAGE.glob("**/*.py"))
    return [path for path in modules if not _matches(path, tuple(STAFF_MODULES))]


_GETTEXT = {
    "gettext",
    "gettext_lazy",
    "gettext_noop",
    "ngettext",
    "ngettext_lazy",
    "pgettext",
    "pgettext_lazy",
    "npgettext",
    "npgettext_lazy",
    "_",
}
_LOG = {"debug", "info", "warning", "error", "exception", "critical"}
#: Patterns and character sets match what is typed or imported; they are never shown.
_PATTERNS = {"compile", "sub", "fullmatch", "match", "search", "frozenset"}


def _is_log_call(call: ast.Call) -> bool:
    """``logger.info("…")``: a log line is read by operators (``messages.info`` is not one)."""
    function = call.func
    return (
        isinstance(function, ast.Attribute)
        and function.attr in _LOG
        and isinstance(function.value, ast.Name)
        and "log" in function.value.id.lower()
    )


def _name(function: ast.expr) -> str:
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return ""


def untranslated_literals(source: str) -> list[str]:
    """The Japanese string literals of ``source`` not passed to gettext, a logger or a
    docstring, in the order they appear (an f-string is listed by its text parts)."""
    tree = ast.parse(source)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (
            _name(node.func) in _GETTEXT | _PATTERNS or _is_log_call(node)
        ):
            for argument in node.args:
                allowed.update(id(sub) for sub in ast.walk(argument))
        if isinstance(
            node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        ) and (docstring := ast.get_docstring(node, clean=False)):
            first = node.body[0]
            assert isinstance(first, ast.Expr)
            allowed.add(id(first.value))
            del docstring
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and JAPANESE.search(node.value)
            and id(node) not in allowed
        ):
            found.append((node.lineno, node.col_offset, node.value))
    return [text for _, _, text in sorted(found)]


@pytest.mark.parametrize("module", _member_modules(), ids=str)
def test_a_member_facing_module_passes_every_japanese_text_through_gettext(module):
    literals = untranslated_literals((PACKAGE / module).read_text())

    assert [text for text in literals if (str(module), text) not in DATA_LITERALS] == []


def test_the_module_check_catches_one_unmarked_message():
    marked = '''
"""ログイン。"""
from django.utils.translation import gettext as _
logger.info("ログに書くだけ")
MESSAGE = _("パスワードを変更しました。")
'''

    assert untranslated_literals(marked) == []
    assert untranslated_literals(marked + 'messages.info(request, "登録しました。")\n') == [
        "登録しました。"
    ]
    assert untranslated_literals(marked + 'title = f"{month}の明細"\n') == ["の明細"]
