"""Past one machine: a Dask cluster on 127.0.0.1 that loses a worker mid-run, and MPI through
mpi4py.futures under mpiexec. Skipped where Dask or MPI is missing — failed instead when
PARSUM_REQUIRE_CLUSTER=1 (as in CI)."""

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import parsum
from conftest import require


def oracle(r: range) -> int:
    n = len(r)
    return n * r.start + n * (n - 1) // 2


def test_dask_loses_a_worker_and_the_sum_is_exact():
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:
        require("dask.distributed", "PARSUM_REQUIRE_CLUSTER", str(e))
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, Client(cluster) as client:
        executor = client.get_executor()
        # Scalar chunks of 5·10^8 elements: ~0.15 s each, so a worker dies with work in hand.
        r = range(2 * 10**10)
        result = {}
        run = threading.Thread(target=lambda: result.setdefault("report", parsum.run(r, executor=executor, chunks=40, backend="scalar")))
        run.start()
        time.sleep(1.0)
        victim = next(iter(client.scheduler_info()["workers"]))
        assert run.is_alive(), "the run ended before a worker could be killed"
        os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        run.join(timeout=600)
        assert not run.is_alive(), "the run did not finish"
        report = result["report"]
        assert report.sum == oracle(r) and report.chunks == 40 and report.verified


def test_mpi4py_futures_under_mpiexec(tmp_path):
    try:
        import mpi4py  # noqa: F401
    except ImportError as e:
        require("mpi4py", "PARSUM_REQUIRE_CLUSTER", str(e))
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if mpiexec is None:
        require("mpiexec", "PARSUM_REQUIRE_CLUSTER", "not on PATH")
    job = tmp_path / "job.py"
    job.write_text(
        "import parsum\n"
        "from mpi4py.futures import MPIPoolExecutor\n"
        "if __name__ == '__main__':\n"
        "    with MPIPoolExecutor() as pool:\n"
        "        report = parsum.run(range(1, 10**9), executor=pool, chunks=100)\n"
        "        print(report.sum, report.chunks)\n"
    )
    out = subprocess.run(
        [mpiexec, "-n", "3", sys.executable, "-m", "mpi4py.futures", str(job)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    total, chunks = out.stdout.split()
    assert int(total) == oracle(range(1, 10**9)) and int(chunks) == 100
