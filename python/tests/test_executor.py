"""Sums through executors: every partial checked in Python ints, every chunk exactly once, a
bounded window, and checkpoints that survive a kill."""

import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import parsum
from parsum._executor import chunk_bounds


def oracle(r: range) -> int:
    n = r.stop - r.start
    return n * r.start + n * (n - 1) // 2


def test_chunk_bounds_cut_like_parsum():
    assert chunk_bounds(0, 100, 3) == [(0, 33), (34, 66), (67, 99)]
    assert chunk_bounds(5, 8, 10) == [(5, 5), (6, 6), (7, 7)]
    assert chunk_bounds(5, 5, 10) == []
    bounds = chunk_bounds(2**64 - 1000, 2**64, 7)
    assert bounds[-1][1] == 2**64 - 1 and sum(b - a + 1 for a, b in bounds) == 1000


def test_a_process_pool_of_the_tutorials_shape():
    r = range(1, 10**9)
    with concurrent.futures.ProcessPoolExecutor(4) as pool:
        report = parsum.run(r, executor=pool, chunks=100)
    assert report.sum == oracle(r) and report.chunks == 100 and report.verified
    assert report.backend in {"scalar", "simd", "gpu", "mixed"}


def test_the_report_says_how_the_chunks_ran():
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        report = parsum.run(range(10**6), executor=pool, chunks=8, backend="scalar")
    direct = parsum.run(range(10), backend="scalar")
    assert (report.backend, report.kernel, report.chosen_by) == ("scalar", direct.kernel, "explicit")
    assert report.device == f"8 chunks on ThreadPoolExecutor: {direct.device}"
    mixed = Lying(lambda res: (*res[:3], f"kernel {res[0] % 2}", *res[4:]))
    assert parsum.run(range(100), executor=mixed, chunks=4).kernel == "mixed"
    odd = Lying(lambda res: (*res[:4], ["not", "a", "str"], res[5]))
    with pytest.raises(parsum.VerificationError, match="ran on"):
        parsum.run(range(100), executor=odd, chunks=4)


def test_an_empty_range_on_an_executor_says_nothing_ran_and_not_the_journal(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        report = parsum.run(range(3, 3), executor=pool)
    assert (report.sum, report.chunks, report.verified) == (0, 0, True)
    assert (report.backend, report.kernel, report.chosen_by) == ("none", "none", "none")
    assert report.device == "0 chunks on ThreadPoolExecutor: nothing ran"
    alone = parsum.run(range(0), checkpoint=tmp_path / "empty.journal")
    assert (alone.sum, alone.chosen_by, alone.device) == (0, "none", "0 chunks on this process: nothing ran")


def test_a_run_the_journal_holds_whole_says_nothing_ran(tmp_path):
    path = tmp_path / "job.journal"
    first = parsum.run(range(10**6), chunks=4, checkpoint=path, backend="scalar")
    again = parsum.run(range(10**6), chunks=4, checkpoint=path, backend="scalar")
    assert first.sum == again.sum == oracle(range(10**6)) and first.backend == "scalar"
    assert (again.backend, again.kernel, again.chosen_by) == ("none", "none", "journal")
    assert again.device == "4 chunks on the journal: nothing ran"


def test_results_of_lying_types_are_verification_errors():
    class Sly(int):
        def __ne__(self, other):
            return False

        __hash__ = None

    class Text(str):
        __hash__ = None

    class Six(tuple):
        def __len__(self):
            return 6

    class Seven(tuple):
        def __iter__(self):
            return iter((*tuple.__iter__(self), "extra"))

    for lie in (
        lambda res: Six(res[:2]),
        lambda res: Seven(res[:6]),
        lambda res: (res[0], Sly(res[1] + 1), *res[2:]),
        lambda res: (Sly(res[0]), *res[1:]),
        lambda res: (*res[:2], Text(res[2]), *res[3:]),
    ):
        with pytest.raises(parsum.VerificationError):
            parsum.run(range(100), executor=Lying(lie), chunks=4)


class Formula(concurrent.futures.Executor):
    """Answers every chunk by the closed form, at once: a run over the whole domain in no time."""

    def submit(self, fn, index, first, last, *args):
        future = concurrent.futures.Future()
        future.set_result((index, parsum.closed_form(first, last), "formula", "k", "d", "explicit"))
        return future


def test_a_run_of_2_to_the_63_elements_or_more_reports_them(tmp_path):
    # Python's len() of such a range raises OverflowError: the report must not take it.
    path = tmp_path / "whole.journal"
    for r in (range(2**64), range(1, 2**64), range(2**63)):
        report = parsum.run(r, executor=Formula(), chunks=1000)
        assert (report.sum, report.elements, report.chunks) == (oracle(r), r.stop - r.start, 1000)
    first = parsum.run(range(2**64), executor=Formula(), chunks=64, checkpoint=path)
    again = parsum.run(range(2**64), chunks=64, checkpoint=path)
    assert first.sum == again.sum == oracle(range(2**64)) and again.elements == 2**64
    assert again.chosen_by == "journal"


def test_a_journal_made_meanwhile_by_another_run_is_never_replaced(tmp_path, monkeypatch):
    from parsum import _journal

    path = tmp_path / "job.journal"
    real = _journal.os.path.exists

    def racing(p):
        # Another run makes the journal between this one's look and its write.
        if os.fspath(p) == os.fspath(path) and not real(p):
            path.write_text("another run's journal\n")
            return False
        return real(p)

    monkeypatch.setattr(_journal.os.path, "exists", racing)
    with pytest.raises(parsum.ConfigError, match="not the journal of this job"):
        parsum.sum(range(100), chunks=4, checkpoint=path)
    assert path.read_text() == "another run's journal\n"
    assert [p.name for p in tmp_path.iterdir()] == ["job.journal"]


def test_a_thread_pool_and_the_whole_top_of_the_domain():
    r = range(2**64 - 10**7, 2**64)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        assert parsum.sum(r, executor=pool, chunks=17, backend="simd") == oracle(r)


class Lying(concurrent.futures.Executor):
    """Runs tasks at once, then changes what one of them says."""

    def __init__(self, lie):
        self.lie = lie
        self.in_flight = self.most = 0
        self.lock = threading.Lock()

    def submit(self, fn, *args, **kwargs):
        future = concurrent.futures.Future()
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        result = fn(*args, **kwargs)
        future.add_done_callback(lambda _: self._done())
        future.set_result(self.lie(result))
        return future

    def _done(self):
        with self.lock:
            self.in_flight -= 1


def test_a_lying_executor_is_caught_and_named():
    r = range(10**6)
    wrong = Lying(lambda res: (res[0], res[1] + (res[0] == 3), *res[2:]))
    with pytest.raises(parsum.VerificationError, match=r"chunk 3 \("):
        parsum.sum(r, executor=wrong, chunks=10)
    twice = Lying(lambda res: (0 if res[0] == 5 else res[0], *res[1:]))
    with pytest.raises(parsum.VerificationError, match="chunk 0|twice"):
        parsum.sum(r, executor=twice, chunks=10)
    garbage = Lying(lambda res: "42")
    with pytest.raises(parsum.VerificationError):
        parsum.sum(r, executor=garbage, chunks=10)
    outside = Lying(lambda res: (res[0] + 100, *res[1:]))
    with pytest.raises(parsum.VerificationError, match="not in the plan"):
        parsum.sum(r, executor=outside, chunks=10)


def test_the_window_bounds_tasks_in_flight():
    class Counting(concurrent.futures.ThreadPoolExecutor):
        def __init__(self):
            super().__init__(4)
            self.lock, self.in_flight, self.most = threading.Lock(), 0, 0

        def submit(self, fn, *args, **kwargs):
            with self.lock:
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            future = super().submit(fn, *args, **kwargs)
            future.add_done_callback(self._done)
            return future

        def _done(self, _):
            with self.lock:
                self.in_flight -= 1

    with Counting() as pool:
        r = range(10**8)
        assert parsum.sum(r, executor=pool, chunks=200, window=3) == oracle(r)
        assert pool.most <= 3
    with concurrent.futures.ThreadPoolExecutor(1) as pool, pytest.raises(parsum.ConfigError):
        parsum.sum(range(10), executor=pool, window=0)


JOB = """
import sys, concurrent.futures, parsum, parsum._executor as ex
journal, count = sys.argv[1], sys.argv[2]
real = ex.chunk_task
def counted(*a):
    with open(count, "a") as f:
        f.write("x")
    return real(*a)
ex.chunk_task = counted
with concurrent.futures.ThreadPoolExecutor(2) as pool:
    print(parsum.sum(range(3 * 10**10), executor=pool, chunks=60, backend="scalar", checkpoint=journal))
"""


def test_a_checkpointed_run_killed_and_resumed_redoes_only_the_rest(tmp_path):
    journal, count = tmp_path / "job.journal", tmp_path / "count"
    child = subprocess.Popen([sys.executable, "-c", JOB, str(journal), str(count)], stdout=subprocess.PIPE, text=True)
    # Kill it for good once some chunks are journalled.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 10):
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    lines = journal.read_text().count("\n") - 1
    assert 9 <= lines < 60, lines
    # A torn last line, as a kill mid-write would leave.
    with open(journal, "a") as f:
        f.write('{"i": 59, "sum": "12')
    count.write_text("")
    out = subprocess.run([sys.executable, "-c", JOB, str(journal), str(count)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == oracle(range(3 * 10**10))
    redone = len(count.read_text())
    assert redone == 60 - lines, (redone, lines)


def test_a_journal_that_lies_or_belongs_elsewhere(tmp_path):
    journal = tmp_path / "j"
    r = range(10**6)
    assert parsum.sum(r, chunks=10, checkpoint=journal) == oracle(r)
    # A line made wrong is not believed: that chunk is summed again, right.
    text = journal.read_text().splitlines()
    text[3] = text[3].replace('"sum": "', '"sum": "9')
    journal.write_text("\n".join(text) + "\n")
    assert parsum.sum(r, chunks=10, checkpoint=journal) == oracle(r)
    with pytest.raises(parsum.ConfigError, match="not the journal of this job"):
        parsum.sum(range(10**5), chunks=10, checkpoint=journal)
    (tmp_path / "garbage").write_bytes(b"\x00\xff not json")
    with pytest.raises(parsum.ConfigError):
        parsum.sum(r, chunks=10, checkpoint=tmp_path / "garbage")


def test_forked_workers_never_keep_a_journal_locked(tmp_path):
    # The pool's workers are forked while the first run holds the journal: the second run, in
    # the same pool, must find it free, and resume from it.
    path = tmp_path / "job.journal"
    ctx = __import__("multiprocessing").get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        first = parsum.run(range(10**7), executor=pool, chunks=8, checkpoint=path)
        again = parsum.run(range(10**7), executor=pool, chunks=8, checkpoint=path)
    assert first.sum == again.sum == oracle(range(10**7)) and again.chosen_by == "journal"


def test_a_journal_path_that_is_not_a_file_is_a_config_error(tmp_path):
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    os.symlink(tmp_path / "missing" / "x", tmp_path / "dangling")
    for name in ("dir", "fifo", "zero", "dangling"):
        with pytest.raises(parsum.ConfigError):
            parsum.run(range(1000), chunks=4, checkpoint=tmp_path / name)
    with pytest.raises(parsum.ConfigError, match="fifo is not a regular file"):
        parsum.run(range(1000), chunks=4, checkpoint=tmp_path / "fifo")
