"""Who may open a page of the staff console (SPEC 3.10).

``staff_required(*roles)`` wraps every console view: an anonymous visitor is sent to the staff
login; a cardholder's session gets 404 (the console does not exist for them); a staff member who
has not passed the second factor (TOTP) is sent back to the login to finish it; a staff member
whose role is not among ``roles`` gets 403. The view then finds ``request.staff_role``.
Decorating a view is the only way into the console: the URL sweep of the tests fails on a
console route that anyone but staff can open.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.urls import reverse

from meisai.backoffice.roles import Role, staff_role

View = Callable[..., HttpResponseBase]


def staff_required(*roles: Role) -> Callable[[View], View]:
    """Only signed-in, TOTP-verified staff; only ``roles`` when given (any role otherwise)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("backoffice:login"))
            role = staff_role(user)
            if role is None:
                raise Http404
            if not user.is_verified():  # type: ignore[attr-defined,union-attr]
                return redirect_to_login(request.get_full_path(), reverse("backoffice:login"))
            if roles and role not in roles:
                raise PermissionDenied
            request.staff_role = role  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
