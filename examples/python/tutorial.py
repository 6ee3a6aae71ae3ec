"""The tutorial's job — sum 0..N in 100 chunks on a ProcessPoolExecutor(20) — next to parsum doing
the same job in this process, and through a process pool of the tutorial's own shape.

    python examples/python/tutorial.py [N]      (default N = 10**9; the tutorial's part takes ~30 s)

Every line prints the sum and its time; the sums must agree (parsum checks each chunk too).
"""

import sys
import time
from concurrent.futures import ProcessPoolExecutor

import parsum


def compute_sum(start, stop):
    """The tutorial's task: a list of the chunk, summed."""
    arr = [i for i in range(start, stop)]
    return sum(arr)


def tutorial(n):
    """The tutorial's program: 100 steps on 20 processes."""
    with ProcessPoolExecutor(max_workers=20) as executor:
        steps = [i for i in range(0, n + 1, n // 100)]
        futures = [executor.submit(compute_sum, a, b) for a, b in zip(steps, steps[1:])]
        return sum(f.result() for f in futures)


def timed(name, job):
    started = time.perf_counter()
    total = job()
    seconds = time.perf_counter() - started
    print(f"{name:<44} {total:>24}  {seconds:9.4f} s", flush=True)
    return total, seconds


def main():
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**9
    if n % 100:
        sys.exit("N must be a multiple of 100 (the tutorial cuts it into 100 equal steps)")
    print(f"summing range(0, {n}) — {n:,} elements", flush=True)
    want, slow = timed("tutorial: 100 chunks, ProcessPoolExecutor(20)", lambda: tutorial(n))
    got, fast = timed("parsum.sum, this process", lambda: parsum.sum(range(n)))
    with ProcessPoolExecutor(max_workers=20) as pool:
        pool.submit(parsum.sum, range(1)).result()  # workers started before the clock
        via, pooled = timed(
            "parsum.sum, 100 chunks on ProcessPoolExecutor(20)",
            lambda: parsum.sum(range(n), executor=pool, chunks=100),
        )
    assert want == got == via, (want, got, via)
    print(f"parsum is {slow / fast:,.0f}x faster in this process, {slow / pooled:,.0f}x on the pool")


if __name__ == "__main__":
    main()
