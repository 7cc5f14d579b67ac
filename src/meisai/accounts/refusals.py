"""The exception an accounts service raises when it refuses a step.

Registration and recovery refuse with a message written for the member; the view shows it as it
is, beside the input it concerns when ``field`` names one.
"""

from __future__ import annotations

from django.utils.functional import Promise


class Refused(Exception):
    """A refused step; ``message`` is shown to the member, ``field`` names the input it concerns
    (None for the whole form). A lazy message (``gettext_lazy``) is read when the step is
    refused, in the language of the member who is refused."""

    def __init__(self, message: str | Promise, *, field: str | None = None) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message
        self.field = field
