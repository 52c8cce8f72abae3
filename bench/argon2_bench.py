"""Time one Argon2id hash on one core for the parameters in booking/lib/passwords.py and a few
neighbours, so the chosen time cost can be checked on any machine (issue 4: 20-50 ms here,
about 0.2-0.5 s on the Pi).

    taskset -c 0 uv run python bench/argon2_bench.py            # median of 20 hashes each
    taskset -c 0 uv run python bench/argon2_bench.py --runs 50 --t 2 3 4

Prints one line per time cost: CPU and wall-clock milliseconds per hash (median, min, max)
and the peak RSS growth. On a busy machine trust the CPU figure; wall time includes waiting.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

from argon2 import PasswordHasher

from booking.lib import passwords


def bench(
    time_cost: int, memory_kib: int, parallelism: int, runs: int
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per hash (CPU time does not grow when the machine is
    busy with other work, wall-clock time does)."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    hasher.hash("warm-up password")
    wall, cpu = [], []
    for run in range(runs):
        start, start_cpu = time.perf_counter(), time.thread_time()
        hasher.hash(f"correct horse battery staple {run}")
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return wall, cpu


def main() -> None:
    current = passwords.PARAMETERS
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--t", type=int, nargs="+", default=sorted({2, 3, current.time_cost}))
    parser.add_argument("--m", type=int, default=current.memory_cost, help="memory in KiB")
    parser.add_argument("--p", type=int, default=current.parallelism)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    print(f"CPUs allowed: {cpus} (pin with `taskset -c 0` for one core)")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"m={args.m} KiB ({args.m / 1024:.0f} MiB), p={args.p}, {args.runs} hashes each")
    for time_cost in args.t:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wall, cpu = bench(time_cost, args.m, args.p, args.runs)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        mark = "  <- current" if time_cost == current.time_cost else ""
        print(
            f"t={time_cost}: CPU median {statistics.median(cpu):6.1f} ms "
            f"(min {min(cpu):5.1f}, max {max(cpu):5.1f}); wall median "
            f"{statistics.median(wall):6.1f} ms (min {min(wall):5.1f}); "
            f"peak RSS +{grown / 1024:.0f} MiB{mark}"
        )


if __name__ == "__main__":
    main()
