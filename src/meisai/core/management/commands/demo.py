"""``meisai demo``: the embedded database with realistic demo data, its logins, and the server.

Needs no environment variable: SQLite in ``var/meisai.sqlite3``, mail to the demo outbox.
Running it again re-uses the database (nothing changes unless a new month has come);
``--reset`` starts from an empty one.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from meisai import config


class Command(BaseCommand):
    help = (
        "Create and migrate the embedded database, load the demo data through the importers, "
        "close and publish every month, print the demo logins and serve http://127.0.0.1:8000."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="load and print, do not serve")
        parser.add_argument(
            "--reset", action="store_true", help="delete the SQLite database and demo files first"
        )
        parser.add_argument("--addr", default="127.0.0.1:8000", help="address to serve on")
        parser.add_argument("--members", type=int, default=300, help="number of demo members")
        parser.add_argument(
            "--data-dir",
            default=str(config.VAR_DIR / "demo"),
            help="where the demo files are written (default var/demo)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from meisai.demo.loader import demo_load

        directory = Path(options["data_dir"])
        if options["reset"]:
            self._reset(directory)
        call_command("migrate", interactive=False, verbosity=0)
        write = self.stdout.write
        # The per-month job and task log lines would bury the summary; warnings still show.
        quiet = [logging.getLogger(name) for name in ("meisai", "celery")]
        levels = [logger.level for logger in quiet]
        for logger in quiet:
            logger.setLevel(logging.WARNING)
        try:
            _, logins = demo_load(directory=directory, members=options["members"], write=write)
        finally:
            for logger, level in zip(quiet, levels, strict=True):
                logger.setLevel(level)

        write("")
        write("デモ用ログイン(パスワードは共通):")
        for login in logins:
            write(f"  ログインID {login.login_id:<14} パスワード {login.password}  {login.kind}")
        write(
            "初めてのブラウザからのログインでは確認コードをメールで送ります。"
            "デモではメールは送信箱 http://"
            + options["addr"]
            + "/demo/outbox/ に届きます(本文の6桁のコードを入力してください)。"
        )
        write(
            "新規登録を試すときは、未登録会員のカード情報を var/demo/members.csv で確認できます。"
        )
        if options["no_serve"]:
            return
        if not settings.DEBUG:
            # Without DEBUG the server serves static files from STATIC_ROOT (whitenoise).
            call_command("collectstatic", interactive=False, verbosity=0)
        _links_point_at(options["addr"])
        write(f"http://{options['addr']}/ で起動します(終了は Ctrl+C)")
        call_command("runserver", options["addr"], use_reloader=False)

    def _reset(self, directory: Path) -> None:
        database = settings.DATABASES["default"]
        if database["ENGINE"] != "django.db.backends.sqlite3":
            raise CommandError(
                "--reset deletes the embedded SQLite database only; DATABASE_URL points elsewhere"
            )
        connections.close_all()
        name = Path(str(database["NAME"]))
        for path in (name, name.with_name(name.name + "-wal"), name.with_name(name.name + "-shm")):
            path.unlink(missing_ok=True)
        shutil.rmtree(directory, ignore_errors=True)
        self.stdout.write(f"{name} と {directory} を削除しました")


def _links_point_at(addr: str) -> None:
    """The demo's mail carries links to the address it serves on (``--addr``), so that a
    newcomer can click through a registration from the demo outbox; its host is allowed too.
    An explicit ``MEISAI_BASE_URL`` in the environment wins."""
    if "MEISAI_BASE_URL" in os.environ:
        return
    settings.MEISAI_BASE_URL = f"http://{addr}"
    host = addr.rsplit(":", 1)[0].strip("[]")
    if host not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
