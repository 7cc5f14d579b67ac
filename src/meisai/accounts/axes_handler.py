"""django-axes' database handler without the reads a login that never failed does not need.

At a successful login axes cleans up every expired attempt (a read of ``AccessAttempt``, and a
delete when it finds some) and then resets the login ID's attempts (another read). On the 13th
almost no member has failed before, and axes has just counted that with its lockout check in
``authenticate`` (``get_failures``, one query): when that check found no failure for the ID,
nothing is there to reset, and the expired attempts do not count for anything (the next failure
anywhere cleans them up, as axes does before it records one). So the login skips both reads.
A failure recorded by someone else between the check and the login stays counted: the lockout
can only be stricter, never looser.

Logout is the same: axes' only work there, without its access log
(``AXES_DISABLE_ACCESS_LOG``), is that clean-up of expired attempts, a read on every logout.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from django.conf import settings
from django.http import HttpRequest

#: The request attribute holding (login ID, failures) of axes' lockout check in this request.
_CHECKED = "meisai_axes_checked"


class MeisaiAxesHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        setattr(request, _CHECKED, (get_client_username(request, credentials), failures))
        return failures

    def user_logged_in(self, sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
        checked = getattr(request, _CHECKED, None)
        never_failed = checked == (
            get_client_username(request, {"username": user.get_username()}),
            0,
        )
        if never_failed and settings.AXES_DISABLE_ACCESS_LOG:
            return
        super().user_logged_in(sender, request, user, **kwargs)

    def user_logged_out(self, sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
        if settings.AXES_DISABLE_ACCESS_LOG:
            return
        super().user_logged_out(sender, request, user, **kwargs)
