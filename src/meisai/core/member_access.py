"""Member pages are for members: a logged-in account that belongs to a member.

Staff accounts have no member; on a member page they get the same 404 as anybody asking for
something that is not theirs, except the top page, which sends them to the operators' admin.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponseBase
from django.shortcuts import redirect

from meisai.members.models import Member

View = Callable[..., HttpResponseBase]


def request_member(request: HttpRequest) -> Member:
    """The member behind the logged-in account (the view is wrapped in ``member_required``)."""
    member = getattr(request.user, "member", None)
    if member is None:
        raise Http404
    return member


def request_member_id(request: HttpRequest) -> int:
    """The id of that member, without loading the member's row (a page that reads the member's
    things by id saves the query)."""
    member_id: int | None = getattr(request.user, "member_id", None)
    if member_id is None:
        raise Http404
    return member_id


def member_required(*, staff_redirect: str | None = None) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @login_required
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if getattr(request.user, "member_id", None) is None:
                if staff_redirect and request.user.is_staff:
                    return redirect(staff_redirect)
                raise Http404
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
