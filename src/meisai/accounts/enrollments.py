"""本人認証サービス enrolments that end because the card did (SPEC 3.9).

A member who holds no card any more (``members.standing``) has nothing left to authenticate a
purchase with, so their active enrolments are revoked when the member file that says so is
imported. The revocation moves ``updated_at``, so the next ``export enrollments --since`` carries
each one as ``revoked`` to the ACS.
"""

from __future__ import annotations

from meisai.accounts.models import Enrollment
from meisai.audit.services import audit_record
from meisai.clock import now
from meisai.members.standing import members_without_card

#: The import kind whose file decides who holds a card (``imports.formats.members``).
MEMBER_FILE_KIND = "members"


def enrollments_revoke_without_card(*, import_kind: str, actor: str) -> int:
    """Revoke the active enrolments of members who hold no card; returns how many.

    Called by every import with its kind; only the member file decides cards, so any other kind
    changes nothing. One set-based UPDATE (a member file has up to a million rows), in the
    import's transaction: a dry run or a refused file revokes nothing.
    """
    if import_kind != MEMBER_FILE_KIND:
        return 0
    revoked = Enrollment.objects.filter(
        status=Enrollment.Status.ACTIVE, member__in=members_without_card()
    ).update(status=Enrollment.Status.REVOKED, updated_at=now())
    if revoked:
        audit_record(
            actor=actor,
            action="enrollment_revoke_without_card",
            detail={"revoked": revoked},
        )
    return revoked
