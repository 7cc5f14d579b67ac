"""The exception an accounts service raises when it refuses a step.

Registration and recovery refuse with a message written for the member; the view shows it as it
is, beside the input it concerns when ``field`` names one.
"""

from __future__ import annotations


class Refused(Exception):
    """A refused step; ``message`` is shown to the member, ``field`` names the input it concerns
    (None for the whole form)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
