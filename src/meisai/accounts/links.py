"""The emailed links of accounts: how long each kind lives, the site address they point to, and
issuing the single-use link of an existing account (password reset, email change).

The tokens inside the links come from ``tokens``; reading a link back is a selector
(``selectors.account_link_find``, ``selectors.registration_for_email_token``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from meisai.accounts.models import Account, AccountToken
from meisai.accounts.tokens import token_issue
from meisai.clock import now

#: Both registration URLs are valid for 24 hours (SPEC 3.4).
REGISTRATION_LINK_TTL = dt.timedelta(hours=24)
#: Password reset and email change links live as long as the registration links.
ACCOUNT_LINK_TTL = dt.timedelta(hours=24)


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
        expires_at=moment + ACCOUNT_LINK_TTL,
    )
    return token, row
