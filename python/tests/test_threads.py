"""Many Python threads at once: the GIL is released during a sum, and every answer is right."""

import threading
import time

import parsum


def test_many_threads_sum_right():
    errors, results = [], {}

    def work(t: int) -> None:
        try:
            for k in range(20):
                start = (t << 58) + k * 1_000_003
                r = range(start, start + 300_000 + 17 * t)
                results[(t, k)] = (parsum.sum(r), len(r) * start + len(r) * (len(r) - 1) // 2)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 160 and all(got == want for got, want in results.values())


def test_the_gil_is_released_during_a_sum():
    # While one thread sums for a while, another keeps counting: ticks stamped well inside the
    # call (a tenth of a second from either end) could only run with the GIL released.
    ticks = []
    started, done = threading.Event(), threading.Event()

    def count() -> None:
        started.set()
        while not done.is_set():
            ticks.append(time.perf_counter())

    counter = threading.Thread(target=count)
    counter.start()
    started.wait()
    begin = time.perf_counter()
    assert parsum.sum(range(4 * 10**9), backend="scalar") == 2 * 10**9 * (4 * 10**9 - 1)
    end = time.perf_counter()
    done.set()
    counter.join()
    assert end - begin > 0.3, "too quick to tell"
    inside = [t for t in ticks if begin + 0.1 < t < end - 0.1]
    assert len(inside) > 1000, len(inside)
