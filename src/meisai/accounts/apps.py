from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "meisai.accounts"

    def ready(self) -> None:
        # Every process that can change an account (web, workers, commands) must make its cached
        # copy stale: the receivers live in account_cache.
        from meisai.accounts import account_cache  # noqa: F401
