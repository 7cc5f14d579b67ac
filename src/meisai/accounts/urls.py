"""URLs of registration, login and お客様情報 (SPEC 4.4). ``/account/paper/`` is the member pages'."""

from django.urls import path

from meisai.accounts import views

app_name = "accounts"
urlpatterns = [
    path("register/", views.register_terms, name="register"),
    path("register/email/", views.register_email, name="register_email"),
    path("register/email/sent/", views.register_email_sent, name="register_email_sent"),
    path("register/identity/<str:token>/", views.register_identity, name="register_identity"),
    path("register/confirm/", views.register_confirm, name="register_confirm"),
    path("register/confirm/sent/", views.register_completion_sent, name="register_completion_sent"),
    path("register/complete/<str:token>/", views.register_complete, name="register_complete"),
    path("register/takeover/<str:token>/", views.reregister_confirm, name="reregister_confirm"),
    path(
        "register/takeover/<str:token>/cancel/", views.reregister_cancel, name="reregister_cancel"
    ),
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_code, name="login_code"),
    path("login/code/resend/", views.login_code_resend, name="login_code_resend"),
    path("login/forgot-password/", views.forgot_password, name="forgot_password"),
    path("login/reset/<str:token>/", views.password_reset, name="password_reset"),
    path("login/forgot-id/", views.forgot_id, name="forgot_id"),
    path("logout/", views.logout_view, name="logout"),
    path("account/", views.account_home, name="account"),
    path("account/email/", views.account_email, name="account_email"),
    path("account/email/confirm/<str:token>/", views.account_email_confirm, name="email_confirm"),
    path("account/password/", views.account_password, name="account_password"),
    path("account/message/", views.account_message, name="account_message"),
]
