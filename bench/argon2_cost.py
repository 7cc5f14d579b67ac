"""The cost of one Argon2id verification for each candidate cost, on one core and on all cores.

Measures, with argon2-cffi (the library Django's ``Argon2PasswordHasher`` calls), Django's default
cost and each of OWASP's Password Storage Cheat Sheet minimum settings for Argon2id, plus the
cost meisai uses (``meisai.accounts.hashers.MeisaiArgon2PasswordHasher``):

- milliseconds per verification in one process (the median of ``--rounds`` verifications),
  wall clock and CPU time, and the rate one core gives (1000 / CPU ms);
- verifications per second on all cores: a process pool of ``--processes`` workers (default
  the server's worker count, ``MEISAI_WEB_WORKERS``) verifying for ``--seconds`` seconds.

    flock /tmp/meisai-heavy.lock uv run python bench/argon2_cost.py
    uv run python bench/argon2_cost.py --rounds 5 --seconds 1            # quick

``bench/peak_day.py`` measures the same all-cores rate with the production cost as its floor
(``verifications_per_second``, imported from here).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from argon2 import PasswordHasher, Type

#: (label, memory KiB, passes, lanes). OWASP's five equivalent minimums for Argon2id, and
#: Django 5.2's default (``Argon2PasswordHasher``: 100 MiB, 2 passes, 8 lanes).
CANDIDATES = [
    ("Django default m=102400 t=2 p=8", 102400, 2, 8),
    ("OWASP m=47104 t=1 p=1", 47104, 1, 1),
    ("OWASP m=19456 t=2 p=1", 19456, 2, 1),
    ("OWASP m=12288 t=3 p=1", 12288, 3, 1),
    ("OWASP m=9216 t=4 p=1", 9216, 4, 1),
    ("OWASP m=7168 t=5 p=1", 7168, 5, 1),
]

PASSWORD = "bench-password-1"


def _hasher(memory: int, passes: int, lanes: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=passes, memory_cost=memory, parallelism=lanes, hash_len=32, type=Type.ID
    )


def one_core_ms(memory: int, passes: int, lanes: int, *, rounds: int) -> tuple[float, float]:
    """Median milliseconds of one verification in this process: wall clock, and CPU time (of
    all its threads: Argon2 runs one thread per lane). On a shared machine the CPU time is the
    steadier figure; the all-cores rate is about cores / CPU time."""
    hasher = _hasher(memory, passes, lanes)
    encoded = hasher.hash(PASSWORD)
    hasher.verify(encoded, PASSWORD)
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        hasher.verify(encoded, PASSWORD)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def _verify_for(memory: int, passes: int, lanes: int, encoded: str, seconds: float) -> int:
    hasher = _hasher(memory, passes, lanes)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(encoded, PASSWORD)
        count += 1
    return count


def verifications_per_second(
    memory: int, passes: int, lanes: int, *, processes: int, seconds: float, encoded: str = ""
) -> float:
    """Verifications per second of ``processes`` processes each verifying for ``seconds``."""
    encoded = encoded or _hasher(memory, passes, lanes).hash(PASSWORD)
    with ProcessPoolExecutor(processes) as pool:
        # Warm every process (imports, the first allocation) before the clock starts.
        list(
            pool.map(
                _verify_for,
                *zip(*[(memory, passes, lanes, encoded, 0.05)] * processes, strict=True),
            )
        )
        started = time.perf_counter()
        counts = list(
            pool.map(
                _verify_for,
                *zip(*[(memory, passes, lanes, encoded, seconds)] * processes, strict=True),
            )
        )
        elapsed = time.perf_counter() - started
    return sum(counts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30, help="verifications on one core")
    parser.add_argument("--seconds", type=float, default=5, help="seconds on all cores")
    parser.add_argument(
        "--processes",
        type=int,
        default=int(os.environ.get("MEISAI_WEB_WORKERS", "4")),
        help="processes on all cores (default: meisai serve's workers, 4)",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "meisai.settings")
    from meisai.accounts.hashers import MeisaiArgon2PasswordHasher

    chosen = MeisaiArgon2PasswordHasher
    candidates = [
        *CANDIDATES,
        (
            f"meisai m={chosen.memory_cost} t={chosen.time_cost} p={chosen.parallelism}",
            chosen.memory_cost,
            chosen.time_cost,
            chosen.parallelism,
        ),
    ]
    print(
        f"Argon2id verification, argon2-cffi; {os.cpu_count()} cores, "
        f"{args.processes} processes on all cores"
    )
    print(f"  {'cost':34} {'wall ms':>8} {'CPU ms':>7} {'/s, 1 core':>10} {'/s, all':>8}")
    for label, memory, passes, lanes in candidates:
        ms, cpu_ms = one_core_ms(memory, passes, lanes, rounds=args.rounds)
        rate = verifications_per_second(
            memory, passes, lanes, processes=args.processes, seconds=args.seconds
        )
        print(f"  {label:34} {ms:8.1f} {cpu_ms:7.1f} {1000 / cpu_ms:10.1f} {rate:8.1f}", flush=True)


if __name__ == "__main__":
    main()
