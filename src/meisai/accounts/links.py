"""The emailed links of accounts: how long each kind lives, the site address they point to, and
issuing the single-use link of an existing account (password reset, email change).

A link is a key, not a door left open (SPEC 3.5): a password-reset link lives
``MEISAI_RESET_LINK_MINUTES`` and dies when it is used, when the account logs in and when its
password or address changes; a new password ends every open link of the account. Each of those
ends the links itself, by setting ``used_at`` in its own transaction: ``login.login_finish`` and
``changes.account_email_change_confirm`` the reset links, ``changes.account_password_change``
and ``recovery.password_reset_complete`` every link of the account.

The tokens inside the links come from ``tokens``; reading a link back is a selector
(``selectors.account_link_find``, ``selectors.registration_for_email_token``,
``selectors.registration_for_completion_token``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from meisai.accounts.models import Account, AccountToken
from meisai.accounts.tokens import token_issue
from meisai.clock import now

#: Both registration URLs are valid for 24 hours (SPEC 3.4).
REGISTRATION_LINK_TTL = dt.timedelta(hours=24)
#: An email-change link lives as long as the registration links (SPEC 3.5).
EMAIL_CHANGE_LINK_TTL = dt.timedelta(hours=24)


def account_link_ttl(purpose: str) -> dt.timedelta:
    """How long a link of ``purpose`` lives. A reset link opens the account to whoever holds
    it, so it lives only ``MEISAI_RESET_LINK_MINUTES`` (30 by default)."""
    if purpose == AccountToken.Purpose.PASSWORD_RESET:
        return dt.timedelta(minutes=settings.MEISAI_RESET_LINK_MINUTES)
    return EMAIL_CHANGE_LINK_TTL


def site_url(path: str) -> str:
    """``path`` on the site's public address, as an email must carry it."""
    return f"{settings.MEISAI_BASE_URL}{path}"


def account_link_issue(
    *, account: Account, purpose: str, new_email: str = ""
) -> tuple[str, AccountToken]:
    """A new emailed single-use link for ``account``: (the token for the URL, its row).

    Earlier unused links of the same purpose die, so only the newest email works.
    """
    token, hashed = token_issue(purpose=purpose)
    moment = now()
    AccountToken.objects.filter(account=account, purpose=purpose, used_at__isnull=True).update(
        used_at=moment
    )
    row = AccountToken.objects.create(
        account=account,
        purpose=purpose,
        token_hash=hashed,
        new_email=new_email,
        created_at=moment,
        expires_at=moment + account_link_ttl(purpose),
    )
    return token, row
