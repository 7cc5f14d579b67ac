"""Merchant names of the generated usage files, shared by the benchmarks that write them
(bench/import_usage.py, bench/national_month.py): ordinary shops of the issuer's region."""

MERCHANTS = [
    "イオン盛岡南店",
    "ユニバース盛岡店",
    "ケーズデンキ盛岡本店",
    "ENEOS 盛岡インター SS",
    "マルイチ 北上店",
    "さわや書店 フェザン店",
    "JR東日本 盛岡駅",
    "岩手県交通",
    "ツルハドラッグ 花巻店",
    "Amazon.co.jp",
    "楽天市場",
    "東北電力",
    "NTTドコモ",
    "盛岡冷麺 ぴょんぴょん舎",
]
