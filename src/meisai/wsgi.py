"""WSGI entry point for production servers (gunicorn ``meisai.wsgi:application``)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")
application = get_wsgi_application()
