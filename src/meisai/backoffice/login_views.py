"""Staff sign-in pages (SPEC 2, 3.10): ``/backoffice/login/`` (login ID and password),
``/backoffice/login/code/`` (the TOTP code), ``/backoffice/logout/`` (POST). The rules are in
``staff_login``; these views parse the form, call it and render."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from meisai.backoffice import staff_login as sign_in
from meisai.backoffice.forms import StaffCodeForm, StaffLoginForm
from meisai.backoffice.roles import staff_role

LOGIN_FAILED = (
    "ログインIDまたはパスワードが正しくありません。続けて誤るとしばらくログインできなくなります。"
)
TOO_MANY = "ログインの試行が集中しています。しばらく時間をおいてから、もう一度お試しください。"


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    """Where to go after signing in: a page of the console (or its admin) on this site only."""
    if (
        candidate
        and candidate.startswith("/backoffice/")
        and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return candidate
    return reverse("backoffice:dashboard")


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def staff_login(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if staff_role(request.user) is not None and request.user.is_verified():  # type: ignore[union-attr]
        return redirect(next_url)
    form = StaffLoginForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        match sign_in.staff_password_check(
            request=request,
            login_id=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
            next_url=next_url,
        ):
            case sign_in.StaffThrottled(throttled=throttled):
                response = render(
                    request,
                    "backoffice/login.html",
                    {"form": StaffLoginForm(), "next": next_url, "too_many": TOO_MANY},
                    status=429,
                )
                response["Retry-After"] = str(throttled.retry_after)
                return response
            case sign_in.StaffRefused():
                form.add_error(None, LOGIN_FAILED)
            case sign_in.StaffCodeNeeded():
                return redirect("backoffice:login_code")
    return render(request, "backoffice/login.html", {"form": form, "next": next_url})


@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def staff_login_code(request: HttpRequest) -> HttpResponse:
    pending = sign_in.staff_pending(request=request)
    if pending is None:
        return redirect("backoffice:login")
    form = StaffCodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        match sign_in.staff_code_check(request=request, code=form.cleaned_data["code"]):
            case sign_in.StaffSignedIn():
                return redirect(_safe_next(request, pending.next_url))
            case sign_in.StaffCodeWrong():
                form.add_error("code", "認証コードが正しくありません。")
            case sign_in.StaffRefused():
                messages.error(request, "もう一度、ログインIDとパスワードから入力してください。")
                return redirect("backoffice:login")
    return render(request, "backoffice/login_code.html", {"form": form})


@require_POST
def staff_logout(request: HttpRequest) -> HttpResponse:
    sign_in.staff_logout(request=request)
    messages.info(request, "ログアウトしました。")
    return redirect("backoffice:login")


urlpatterns = [
    path("login/", staff_login, name="login"),
    path("login/code/", staff_login_code, name="login_code"),
    path("logout/", staff_logout, name="logout"),
]
