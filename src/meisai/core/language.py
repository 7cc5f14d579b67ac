"""The language of a request: Japanese unless the member chose English with the footer switch.

Django's ``LocaleMiddleware`` would follow the browser's ``Accept-Language``; a cardholder whose
phone is set to English would then get English pages without asking. The issuer's wording is
written and reviewed in Japanese, so only an explicit choice, kept in the language cookie by
Django's ``set_language`` view, changes it (docs/i18n.md).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers


def chosen_language(request: HttpRequest) -> str:
    """The language the cookie names if the site offers it, else ``LANGUAGE_CODE``."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen:
        try:
            return translation.get_supported_language_variant(chosen)
        except LookupError:
            pass
    return settings.LANGUAGE_CODE


class ChosenLanguageMiddleware:
    """Activates the chosen language for the request and says so in ``Content-Language``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = chosen_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        # The page depends on the cookie, never on Accept-Language.
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", language)
        return response
