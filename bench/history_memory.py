"""Where the history service's resident memory goes: the repository's write path alone, in
one process, under stream-like batches (sizes vary from call to call, as XREADGROUP returns
whatever arrived), with the evidence to tell a leak from a cache from the allocator.

Reported every `--every-s`: RSS, Python-level allocations (tracemalloc, traced total),
SQLite's own heap (`sqlite3_memory_used` of the process's libsqlite3) and glibc's
(`mallinfo2`: in use vs. free-but-held). A Python leak grows `traced`; SQLite's prepared
statement cache (one prepared statement per distinct SQL text, `cached_statements` per
connection) grows `sqlite`; fragmentation grows RSS and `free held` with neither.

    python -m bench.history_memory --duration-s 60 [--cached-statements N] [--threads N]

(run it with MALLOC_ARENA_MAX=2 in the environment to see what per-thread arenas cost)
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import json
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil

from gridtwin.history.repository import Repository
from gridtwin.history.rows import HistoryItem
from gridtwin.v1 import assessment_pb2
from tests.readings import make_reading


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libs() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    sqlite = ctypes.CDLL(ctypes.util.find_library("sqlite3"))  # the copy _sqlite3 already loaded
    sqlite.sqlite3_memory_used.restype = ctypes.c_int64
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = _MallInfo2
    return sqlite, libc


def _items(rng: np.random.Generator, start: int, n: int, meters: int) -> list[HistoryItem]:
    t0 = time.time() - 5 * 86_400
    out = []
    for k in range(start, start + n):
        reading = make_reading(f"hm-{k % meters}", t=t0 + k // meters)
        a = assessment_pb2.Assessment(meter_id=reading.meter_id, timestamp=reading.timestamp)
        a.voltage_anomaly.info.severity = int(rng.integers(0, 4))
        out.append(HistoryItem(f"{k + 1}-0", reading, a))
    return out


def run(
    duration_s: float, every_s: float, cached_statements: int | None, meters: int, threads: int
) -> list[dict]:
    sqlite, libc = _libs()
    path = Path(tempfile.mkdtemp(prefix="gridtwin-histmem-")) / "h.sqlite3"
    url = f"sqlite:///{path}"
    repo = Repository(url) if cached_statements is None else Repository(url, cached_statements)
    repo.create_schema()
    rng = np.random.default_rng(5)
    tracemalloc.start()
    samples, written, started, next_at = [], 0, time.monotonic(), 0.0
    proc = psutil.Process()
    # The service writes through asyncio.to_thread: one write at a time, on whichever worker
    # thread of the default executor is free (each thread may get its own malloc arena).
    pool = ThreadPoolExecutor(max_workers=threads) if threads else None
    while (elapsed := time.monotonic() - started) < duration_s:
        n = int(rng.integers(1, 400))  # 400 readings/s read once a second, arriving unevenly
        items = _items(rng, written, n, meters)
        if pool is None:
            repo.write(items)
        else:
            pool.submit(repo.write, items).result()
        written += n
        if elapsed >= next_at:
            info = libc.mallinfo2()
            samples.append(
                {
                    "t_s": round(elapsed, 1),
                    "rows": written,
                    "rss_mb": proc.memory_info().rss / 2**20,
                    "traced_mb": tracemalloc.get_traced_memory()[0] / 2**20,
                    "sqlite_mb": sqlite.sqlite3_memory_used() / 2**20,
                    "malloc_in_use_mb": (info.uordblks + info.hblkhd) / 2**20,
                    "malloc_free_held_mb": info.fordblks / 2**20,
                    "gc_objects": len(gc.get_objects()),
                }
            )
            next_at += every_s
    repo.dispose()
    if pool is not None:
        pool.shutdown()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration-s", type=float, default=60)
    parser.add_argument("--every-s", type=float, default=10)
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument(
        "--cached-statements",
        type=int,
        default=None,
        help="default: the repository's (16); Python's own default is 128",
    )
    parser.add_argument(
        "--threads", type=int, default=6, help="writer threads like asyncio.to_thread (0: inline)"
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    samples = run(args.duration_s, args.every_s, args.cached_statements, args.meters, args.threads)
    for s in samples:
        print(  # noqa: T201
            f"[history-memory] {s['t_s']:6.1f} s rows {s['rows']:7d}  RSS {s['rss_mb']:6.1f} MB  "
            f"python {s['traced_mb']:5.1f}  sqlite {s['sqlite_mb']:5.1f}  malloc in use "
            f"{s['malloc_in_use_mb']:6.1f} free held {s['malloc_free_held_mb']:5.1f}  objects {s['gc_objects']}",
            flush=True,
        )
    if args.out:
        Path(args.out).write_text(json.dumps(samples, indent=2))


if __name__ == "__main__":
    main()
