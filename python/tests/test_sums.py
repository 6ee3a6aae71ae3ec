"""Exact sums on every backend, at the edges of the domain, checked against Python's own ints."""

import os
import subprocess
import sys

import pytest

import parsum

TOP = 2**64


def oracle(r: range) -> int:
    n = len(r)
    return n * r.start + n * (n - 1) // 2


EDGES = [
    range(0),
    range(5, 5),
    range(TOP, TOP),
    range(0, 1),
    range(TOP - 1, TOP),
    range(1, 1001),
    range(2**32 - 100_003, 2**32 + 99_999),
    range(2**63 - 100_003, 2**63 + 99_999),
    range(TOP - 300_000, TOP),
    range(2**50, 2**50 + 2**16),
    range(999_999_937, 999_999_937 + 65_537),
]


@pytest.mark.parametrize("r", EDGES, ids=repr)
def test_edges(backend, r):
    report = parsum.run(r, backend=backend)
    assert report.sum == oracle(r) == report.expected
    assert report.elements == len(r)
    assert report.verified
    if backend != "auto":
        assert report.backend == backend and report.chosen_by == "explicit"
    assert parsum.sum(r, backend=backend) == oracle(r)


@pytest.mark.parametrize("chunks", [1, 3, 7, 100, 1000, 65_537])
def test_chunks(backend, chunks):
    r = range(2**32 - 77_777, 2**32 + 100_000)
    report = parsum.run(r, backend=backend, chunks=chunks)
    assert report.sum == oracle(r)
    assert report.chunks == min(chunks, len(r))


def test_totals_past_two_to_the_64_are_exact_python_ints():
    r = range(TOP - 2_000_000, TOP)
    total = parsum.sum(r)
    assert isinstance(total, int) and total > 2**84 and total == oracle(r)


def test_the_default_path_and_the_tutorial_range():
    assert parsum.sum(range(1, 10**7)) == oracle(range(1, 10**7))
    assert parsum.sum(range(1000)) == sum(range(1000))


def test_report_reads_well():
    report = parsum.run(range(10**6))
    text = repr(report)
    assert text.startswith("Report(sum=499999500000") and "backend=" in text
    assert report.elements_per_second > 0 and report.seconds > 0
    assert report.chosen_by in {"predicted", "explored", "forced"}
    with pytest.raises(AttributeError):
        report.sum = 1  # frozen


def test_closed_form_and_backends_and_explain():
    assert parsum.closed_form(1, 100) == 5050 and parsum.closed_form(5, 4) == 0
    top = 2**64 - 1
    assert parsum.closed_form(0, top) == top * (top + 1) // 2
    class Index:  # an integer as numpy's are: by __index__
        def __index__(self) -> int:
            return 10

    assert parsum.closed_form(Index(), Index()) == 10
    # Not a number in parsum's domain: an error, as every sum call gives, never a number.
    for first, last, error in [
        (1.5, 3, TypeError),
        (True, 3, TypeError),
        (0, "9", TypeError),
        (0, 2**64, parsum.InvalidRangeError),
        (-1, 3, parsum.InvalidRangeError),
    ]:
        with pytest.raises(error):
            parsum.closed_form(first, last)
    found = parsum.backends()
    kinds = [b["backend"] for b in found]
    assert kinds[:2] == ["scalar", "simd"]
    gpus = [b for b in found if b["backend"] == "gpu"]
    # The adapter backend="gpu" opens is marked, whenever there is one (a WGPU_ADAPTER_NAME in
    # the environment may match none).
    marked = sum(b["default"] for b in gpus)
    assert marked == (1 if gpus else 0) or (marked == 0 and os.environ.get("WGPU_ADAPTER_NAME")), gpus
    text = parsum.explain(10**6)
    assert text.startswith("auto for 1000000 elements in 15 chunks") and "picked:" in text
    assert "in 7 chunks" in parsum.explain(10**6, 7)


def test_a_gpu_adapter_is_chosen_by_index_or_name():
    from conftest import gpu_or_skip

    gpu_or_skip()
    gpus = [b for b in parsum.backends() if b["backend"] == "gpu"]
    r = range(10**6, 3 * 10**6 + 7)
    names = [g["device"].split(" (")[0] for g in gpus]
    for g, name in zip(gpus, names):
        # A name two adapters share (two like cards) chooses neither: by index only, then (an
        # int, or a str of digits as the CLI takes it).
        by_index = (g["adapter"], f" {g['adapter']} ")
        for adapter in (*by_index, name) if names.count(name) == 1 else by_index:
            report = parsum.run(r, backend="gpu", adapter=adapter, chunks=9)
            assert (report.sum, report.backend, report.chunks) == (oracle(r), "gpu", 9)
            assert name in report.device, (adapter, report.device)
        assert parsum.sum(r, backend="gpu", adapter=g["adapter"]) == oracle(r)
    # Through an executor too: every task sums on the adapter asked for.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        report = parsum.run(r, backend="gpu", adapter=gpus[0]["adapter"], chunks=6, executor=pool)
    assert report.sum == oracle(r) and report.backend == "gpu"
    # An adapter that is not there is named, with those that are.
    with pytest.raises(parsum.BackendUnavailableError, match=f"no adapter at index {len(gpus)}"):
        parsum.run(r, backend="gpu", adapter=len(gpus))
    with pytest.raises(parsum.BackendUnavailableError, match="no adapter named like 'zzz-none'"):
        parsum.sum(r, backend="gpu", adapter="zzz-none")


def test_unverified_sums_are_still_right():
    assert parsum.run(range(10**6), verify=False).verified is False
    assert parsum.sum(range(10**6), verify=False, backend="simd") == oracle(range(10**6))


def test_explaining_and_listing_alone_write_no_history(tmp_path):
    # A process that only asks learns nothing, so it leaves no file; one sum is kept.
    code = "import parsum; parsum.explain(1000); parsum.backends(); parsum.run(range(9), backend='scalar')"
    env = dict(os.environ, PARSUM_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert list(tmp_path.iterdir()) == []
    subprocess.run([sys.executable, "-c", "import parsum; parsum.sum(range(10**6))"], env=env, check=True, timeout=120)
    assert any(p.name.startswith("auto-history") for p in tmp_path.iterdir()), list(tmp_path.iterdir())
