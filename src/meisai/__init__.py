"""meisai — WEB請求明細: web billing statements for Japanese credit-card issuers."""

from meisai.celery_app import app as celery_app

__all__ = ["celery_app"]
