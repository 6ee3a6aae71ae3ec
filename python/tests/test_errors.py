"""Bad input of every kind: a clear exception of the right class, never a panic, hang or wrong
number."""

import concurrent.futures
import os
import subprocess
import sys
import tracemalloc

import pytest

import parsum


@pytest.mark.parametrize("bad", [[1, 2, 3], 5, None, 1.5, "0..10", b"x", (0, 10), {0, 1}, iter(range(3))])
def test_a_non_range_is_a_type_error(bad):
    with pytest.raises(TypeError, match="expected a range"):
        parsum.sum(bad)
    with pytest.raises(TypeError):
        parsum.run(bad)


@pytest.mark.parametrize(
    "r, says",
    [
        (range(0, 10, 2), "step"),
        (range(10, 0, -1), "step"),
        (range(-1, 5), "negative"),
        (range(-(10**30), 5), "negative"),
        (range(-(10**50), 5), "far outside"),
        (range(0, 2**64 + 1), "past 2\\^64"),
        (range(0, 10**40), "far outside"),
        (range(10, 5), "after end"),
        (range(2**64 + 1, 2**64 + 5), "past 2\\^64"),
    ],
    ids=repr,
)
def test_bad_ranges(r, says, tmp_path):
    # On an executor or with a checkpoint too: there the range is cut in Python, and a step or
    # a reversed range was once summed as if it were neither.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        for call in (
            lambda: parsum.sum(r),
            lambda: parsum.run(r, backend="scalar"),
            lambda: parsum.run(r, executor=pool),
            lambda: parsum.sum(r, checkpoint=tmp_path / "job.journal"),
        ):
            with pytest.raises(parsum.InvalidRangeError, match=says) as e:
                call()
            assert isinstance(e.value, ValueError) and isinstance(e.value, parsum.ParsumError)
    assert not (tmp_path / "job.journal").exists()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"backend": "abacus"}, parsum.ConfigError),
        ({"backend": "GPU "}, parsum.ConfigError),
        ({"backend": 3}, TypeError),
        ({"chunks": 0}, ValueError),
        ({"chunks": -1}, ValueError),
        ({"chunks": 2**64}, ValueError),
        ({"chunks": 1.5}, TypeError),
        ({"chunks": True}, TypeError),
        ({"chunks": "10"}, TypeError),
        ({"verify": "no"}, TypeError),
        ({"verify": 0}, TypeError),
        ({"verify": None}, TypeError),
    ],
    ids=repr,
)
def test_bad_options(kwargs, error):
    with pytest.raises(error):
        parsum.sum(range(100), **kwargs)
    with pytest.raises(error):
        parsum.run(range(100), **kwargs)


@pytest.mark.parametrize(
    ("adapter", "backend", "error", "match"),
    [
        # adapter= goes with backend="gpu", as an index (an int, or a str of digits) or a name.
        (0, "auto", parsum.ConfigError, "applies to backend='gpu' only, not 'auto'"),
        ("llvmpipe", "simd", parsum.ConfigError, "not 'simd'"),
        (-1, "gpu", parsum.ConfigError, "indices start at 0 .*got -1"),
        (" -1", "gpu", parsum.ConfigError, "' -1' has a minus sign"),
        (2**64, "gpu", parsum.BackendUnavailableError, "no adapter at index 18446744073709551616 "),
        ("9" * 20, "gpu", parsum.BackendUnavailableError, "no adapter at index 9{20} "),
        ("", "gpu", parsum.ConfigError, "empty adapter name"),
        (" ", "gpu", parsum.ConfigError, "empty adapter name"),
        (True, "gpu", TypeError, r"an index \(int\) or a name \(str\), got bool"),
        (1.0, "gpu", TypeError, "got float"),
        # The type is checked first, whatever the backend: as the docs say, a TypeError.
        (True, "simd", TypeError, "got bool"),
        (1.0, "auto", TypeError, "got float"),
        (b"llvmpipe", "gpu", TypeError, "got bytes"),
        ("\udcff", "gpu", parsum.ConfigError, "is not valid Unicode"),
    ],
    ids=repr,
)
def test_bad_adapters(adapter, backend, error, match):
    for call in (parsum.sum, parsum.run):
        with pytest.raises(error, match=match):
            call(range(100), backend=backend, adapter=adapter)


def test_an_adapter_that_is_not_there_is_named_on_every_path(tmp_path):
    # With a GPU or without: no adapter's name holds this, and the native layer says so.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for extra in ({}, {"executor": pool}, {"checkpoint": tmp_path / "journal"}):
            with pytest.raises(parsum.BackendUnavailableError, match="no adapter named like 'zzz-none'"):
                parsum.run(range(100), backend="gpu", adapter="zzz-none", **extra)
    # A str of digits is an index (as the CLI's --adapter 7); a digit outside ASCII is a name.
    with pytest.raises(parsum.BackendUnavailableError, match="no adapter at index 4096 "):
        parsum.sum(range(100), backend="gpu", adapter=" 4096 ")
    with pytest.raises(parsum.BackendUnavailableError, match="no adapter named like '²'"):
        parsum.sum(range(100), backend="gpu", adapter="²")


def test_a_foreign_type_is_named_with_its_module():
    bool = type("bool", (), {})  # like numpy.bool: not Python's bool
    with pytest.raises(TypeError, match=f"got {__name__}.bool"):
        parsum.sum(range(10), verify=bool())


def test_a_window_needs_an_executor(tmp_path):
    for kwargs in ({"window": 4}, {"window": 4, "checkpoint": tmp_path / "journal"}):
        with pytest.raises(parsum.ConfigError, match="executor"):
            parsum.sum(range(100), **kwargs)
    assert not (tmp_path / "journal").exists()


def test_a_window_is_checked_as_chunks_are():
    bad_windows = [
        (0, parsum.ConfigError),
        (-3, parsum.ConfigError),
        (1.5, TypeError),
        (True, TypeError),
        ("3", TypeError),
    ]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        for bad, error in bad_windows:
            for call in (parsum.sum, parsum.run):
                with pytest.raises(error, match="window"):
                    call(range(100), executor=pool, window=bad)


def test_integers_of_other_kinds_and_bytes_paths_are_taken(tmp_path):
    class Int:  # like numpy.int64: an integer by __index__, not an int
        def __init__(self, v):
            self.v = v

        def __index__(self):
            return self.v

    r = range(10**4)
    assert parsum.run(r, chunks=Int(7)).chunks == 7
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        report = parsum.run(r, chunks=Int(5), executor=pool, window=Int(2))
    assert (report.sum, report.chunks) == (sum(r), 5)
    assert "10000 elements" in parsum.explain(Int(10**4), Int(3))
    path = tmp_path / "journal"
    assert parsum.run(r, chunks=4, checkpoint=os.fsencode(path)).sum == sum(r)
    assert parsum.run(r, chunks=4, checkpoint=path).chosen_by == "journal"
    with pytest.raises(parsum.ConfigError, match="chunks must be from 1"):
        parsum.run(r, chunks=Int(0))
    with pytest.raises(parsum.ConfigError, match="checkpoint must name a file"):
        parsum.run(r, checkpoint=b"")
    # A name that is not UTF-8 is a name all the same (bytes are why paths may be bytes); macOS
    # refuses such names.
    if sys.platform != "darwin":
        raw = os.fsencode(tmp_path) + b"/journal-\xff"
        assert parsum.run(r, chunks=4, checkpoint=raw).sum == sum(r)
        assert parsum.run(r, chunks=4, checkpoint=raw).chosen_by == "journal"
        assert os.path.exists(raw)
    for bad in (True, 2.0, "10"):
        with pytest.raises(TypeError, match="elements must be an int"):
            parsum.explain(bad)

    class Refuses:  # like a numpy array of several values: __index__ there, and it raises
        def __index__(self):
            raise ValueError("only one value may be an index")

    for name in ("chunks", "window"):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            with pytest.raises(TypeError, match=f"{name} must be an int, got .*Refuses .*only one value"):
                parsum.run(r, executor=pool, **{name: Refuses()})
    with pytest.raises(TypeError, match="first must be an int"):
        parsum.closed_form(Refuses(), 5)


def test_bad_explain_arguments():
    for bad, error in [(-1, ValueError), (2**64 + 1, ValueError), ("5", TypeError), (None, TypeError)]:
        with pytest.raises(error):
            parsum.explain(bad)
    with pytest.raises(ValueError):
        parsum.explain(10, 0)


def test_the_errors_form_one_family():
    for e in (parsum.InvalidRangeError, parsum.ConfigError, parsum.VerificationError, parsum.BackendUnavailableError):
        assert issubclass(e, parsum.ParsumError)
    assert issubclass(parsum.InvalidRangeError, ValueError) and issubclass(parsum.ConfigError, ValueError)


def refused_three_times(args: str, forced: str) -> list[str]:
    """What a child prints for three ``parsum.run(range(10){args})`` with an adapter named that is
    not there (``PARSUM_BACKEND=forced``), then its explanation of 10**9. In a child: the adapter
    name is read when the GPU is first opened, once per process."""
    code = (
        "import parsum\n"
        "for _ in range(3):\n"
        "    try:\n"
        f"        parsum.run(range(10){args})\n"
        "    except parsum.BackendUnavailableError as e:\n"
        "        print(e)\n"
        "print(str(parsum.explain(10**9)).replace('\\n', ' | '))\n"
    )
    env = dict(os.environ, WGPU_ADAPTER_NAME="no such adapter", PARSUM_BACKEND=forced)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 4, out
    return out.stdout.splitlines()


def test_a_refused_gpu_gives_the_same_error_every_time():
    *lines, explained = refused_three_times(", backend='gpu'", "")
    assert len(set(lines)) == 1 and lines[0].count("no GPU available") == 1, lines
    assert "no such adapter" in lines[0], lines
    # The explanation says the GPU is out, and not that it is yet to be opened.
    gpu = [part for part in explained.split(" | ") if part.strip().startswith("gpu")]
    assert len(gpu) == 1 and "out: " in gpu[0] and "not opened yet" not in gpu[0], explained
    # ... and names the adapter it was to open.
    assert 'the adapter named "no such adapter"' in gpu[0], explained
    # Forced by PARSUM_BACKEND, auto says so the same way every time too.
    *lines, _ = refused_three_times("", "gpu")
    assert len(set(lines)) == 1 and lines[0].count("no GPU available") == 1, lines
    assert "no such adapter" in lines[0], lines


def test_a_bad_environment_variable_refuses_every_backend_as_the_cli_does():
    # In a child: the environment is read when the process's backends are first made.
    code = (
        "import concurrent.futures, parsum\n"
        "pool = concurrent.futures.ThreadPoolExecutor(1)\n"
        "calls = {b: (lambda b=b: parsum.sum(range(1000), backend=b)) for b in ('scalar', 'simd', 'gpu', 'auto')}\n"
        "calls['empty'] = lambda: parsum.sum(range(0))\n"
        "calls['executor'] = lambda: parsum.sum(range(5, 5), executor=pool)\n"
        "calls['adapter'] = lambda: parsum.sum(range(1000), backend='gpu', adapter=0)\n"
        "calls['no_adapter'] = lambda: parsum.sum(range(1000), backend='gpu', adapter=2**64)\n"
        "calls['backends'] = parsum.backends\n"
        "for name, call in calls.items():\n"
        "    try:\n"
        "        print(name, call())\n"
        "    except parsum.ConfigError as e:\n"
        "        print(name, 'refused:', e)\n"
    )
    for var, value in (("RAYON_NUM_THREADS", "lots"), ("PARSUM_BACKEND", "abacus"), ("WGPU_BACKEND", "nonsense")):
        env = dict(os.environ, **{var: value})
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out
        lines = out.stdout.splitlines()
        names = ["scalar", "simd", "gpu", "auto", "empty", "executor", "adapter", "no_adapter", "backends"]
        assert [line.split()[0] for line in lines] == names, out
        assert all(f"refused: configuration: {var}={value}" in line for line in lines), lines


def test_an_executor_and_a_checkpoint_of_the_wrong_kind_are_named():
    for call in (parsum.sum, parsum.run):
        for bad in (5, "pool", object()):
            with pytest.raises(TypeError, match="executor must be"):
                call(range(100), executor=bad)
        # The class, not an executor: its submit is a plain function.
        with pytest.raises(TypeError, match=r"got the class ThreadPoolExecutor: make one"):
            call(range(100), executor=concurrent.futures.ThreadPoolExecutor)
        for bad in (5, 1.5, ["journal"]):
            with pytest.raises(TypeError, match="checkpoint must be"):
                call(range(100), checkpoint=bad)
        with pytest.raises(parsum.ConfigError, match="checkpoint must name a file"):
            call(range(100), checkpoint="")


def test_a_checkpoint_in_a_missing_directory_is_named(tmp_path):
    path = tmp_path / "missing" / "journal"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        with pytest.raises(parsum.ConfigError) as e:
            parsum.sum(range(100), executor=pool, checkpoint=path)
    message = str(e.value)
    assert f"checkpoint {path} cannot be created" in message and ".journal." not in message, message
    assert not path.parent.exists()


def test_a_checkpoint_with_a_nul_byte_or_a_long_name_or_in_a_huge_file(tmp_path):
    with pytest.raises(parsum.ConfigError, match="NUL byte"):
        parsum.sum(range(100), checkpoint=str(tmp_path / "a\0b"))
    # The longest name the file system takes is a journal like any other.
    longest = tmp_path / ("j" * os.pathconf(tmp_path, "PC_NAME_MAX"))
    assert parsum.run(range(10**4), chunks=4, checkpoint=longest).sum == sum(range(10**4))
    assert parsum.run(range(10**4), chunks=4, checkpoint=longest).chosen_by == "journal"
    # A big file that is no journal is refused after its first line, not read whole.
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(256 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(parsum.ConfigError, match="not the journal of this job"):
            parsum.sum(range(100), chunks=4, checkpoint=big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20 and big.stat().st_size == 256 * 2**20, peak
    big.unlink()


def test_hostile_journal_lines_are_dropped_and_a_refused_journal_is_left_unlocked(tmp_path):
    r = range(10, 10**6)
    path = tmp_path / "journal"
    assert parsum.run(r, chunks=4, checkpoint=path).sum == sum(r)
    header = path.read_bytes().split(b"\n")[0] + b"\n"
    # Lines json takes that int() or the decoder cannot: each dropped, its chunk summed again.
    hostile = [b'{"i": Infinity, "sum": "0", "crc": 0}', b'{"i": 1e400, "sum": "0", "crc": 0}',
               b'{"i": 0, "sum": Infinity, "crc": 0}', b"[" * 100_000, b"\xff\xfe"]
    path.write_bytes(header + b"\n".join(hostile) + b"\n")
    again = parsum.run(r, chunks=4, checkpoint=path)
    assert again.sum == sum(r) and again.chosen_by != "journal"
    # Every chunk summed again was journalled after those lines: the next run sums nothing.
    assert parsum.run(r, chunks=4, checkpoint=path).chosen_by == "journal"
    # A header nested too deep is refused, and the journal is not left locked by the refusal
    # (CPython 3.11's decoder raises RecursionError at this depth; a newer one may decode it,
    # and a list is no header either).
    path.write_bytes(b"[" * 4000 + b"\n")
    with pytest.raises(parsum.ConfigError, match="not the journal of this job") as refused:
        parsum.run(r, chunks=4, checkpoint=path)
    path.write_bytes(header)  # the same file, mended while the refusal is still held
    assert parsum.run(r, chunks=4, checkpoint=path).sum == sum(r) and refused.value
    # A valid header before a huge body: read a line at a time, the body's garbage dropped.
    with open(path, "r+b") as f:
        f.truncate(256 * 2**20)
    tracemalloc.start()
    try:
        report = parsum.run(r, chunks=4, checkpoint=path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.sum == sum(r) and peak < 2**20, peak
    path.unlink()


def test_an_executor_whose_submit_returns_no_future_is_caught():
    class Lying(concurrent.futures.Executor):
        def submit(self, fn, /, *args, **kwargs):
            return 42

    with pytest.raises(TypeError, match="not a concurrent.futures.Future"):
        parsum.sum(range(100), executor=Lying(), chunks=4)


def test_a_plan_of_more_chunks_than_an_executor_run_takes_is_refused_at_once():
    import concurrent.futures

    from parsum._executor import MAX_TASKS

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(parsum.ConfigError, match="at most"):
            parsum.sum(range(0, 2**64), chunks=2**41, executor=pool)
        # More chunks than elements are as many as the elements: that plan is taken.
        assert parsum.sum(range(1000), chunks=MAX_TASKS + 1, executor=pool) == 499_500
