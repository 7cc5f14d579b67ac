"""``meisai campaigns load FILE`` / ``meisai campaigns list`` / ``meisai campaigns defaults``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meisai.clock import jst
from meisai.points.models import Campaign
from meisai.points.services import CampaignFileError, campaign_load_defaults, campaign_load_file


class Command(BaseCommand):
    help = (
        "Campaigns as data (SPEC 3.7). 'load FILE' loads CSV or JSON (code, name, window_start, "
        "window_end, points, grant_month, excluded_products; JST unless an offset is given); "
        "'defaults' creates the flyer's campaign if missing; 'list' prints them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="load campaigns from a CSV or JSON file")
        load.add_argument("file")
        sub.add_parser("list", help="list campaigns")
        sub.add_parser("defaults", help="create the flyer's campaign if missing")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "load":
            path = Path(options["file"])
            if not path.is_file():
                raise CommandError(f"{path}: no such file")
            try:
                campaigns = campaign_load_file(path=path, actor=f"cli:{getpass.getuser()}")
            except (CampaignFileError, ValueError) as error:
                raise CommandError(str(error)) from error
            self.stdout.write(f"{path}: {len(campaigns)} campaign(s) loaded")
        elif options["action"] == "defaults":
            campaign = campaign_load_defaults(actor=f"cli:{getpass.getuser()}")
            self.stdout.write(f"{campaign.code}: {campaign.name}")
        for campaign in Campaign.objects.order_by("grant_month", "code").prefetch_related(
            "excluded_products"
        ):
            excluded = " ".join(p.code for p in campaign.excluded_products.all()) or "-"
            self.stdout.write(
                f"{campaign.code}\t{campaign.name}\t"
                f"{jst(campaign.window_start):%Y-%m-%d %H:%M:%S}〜"
                f"{jst(campaign.window_end):%Y-%m-%d %H:%M:%S}\t"
                f"{campaign.points:,}pt\t付与 {campaign.grant_month}\t対象外 {excluded}"
            )
