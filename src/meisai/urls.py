"""Root URLs. Member pages follow SPEC 4.4; each app owns its own ``urls.py``."""

from django.contrib import admin
from django.urls import include, path, register_converter

from meisai.core.billing_month import BillingMonthConverter

register_converter(BillingMonthConverter, "month")

urlpatterns = [
    # set_language (POST only, CSRF-checked): the footer's 日本語 / English switch.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("meisai.core.urls")),
    path("", include("meisai.accounts.urls")),
    path("", include("meisai.statements.urls")),
    path("", include("meisai.points.urls")),
    path("", include("meisai.magazines.urls")),
    path("", include("meisai.members.urls")),
    path("", include("meisai.notifications.urls")),
    path("backoffice/", include("meisai.backoffice.urls")),
    path("backoffice/admin/", admin.site.urls),
]

handler400 = "meisai.core.views.bad_request"
handler403 = "meisai.core.views.permission_denied"
handler404 = "meisai.core.views.page_not_found"
handler500 = "meisai.core.views.server_error"
