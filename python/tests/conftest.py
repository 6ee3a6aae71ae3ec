"""Shared set-up: a private cache directory for every test and every process they start, and the
rule that a missing GPU, Dask or MPI is a visible skip — or a failure where the environment says
it must be there (CI sets PARSUM_REQUIRE_GPU=1 and PARSUM_REQUIRE_CLUSTER=1)."""

import os
import tempfile

import pytest

os.environ.setdefault("PARSUM_CACHE_DIR", tempfile.mkdtemp(prefix="parsum-pytest-cache-"))

import parsum  # noqa: E402


def require(what: str, variable: str, why: str) -> None:
    """Skips, or fails when `variable` is 1."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"{what} unavailable but {variable}=1: {why}")
    pytest.skip(f"{what} unavailable: {why}")


def gpu_or_skip() -> None:
    try:
        parsum.run(range(10), backend="gpu")
    except parsum.BackendUnavailableError as e:
        require("a GPU", "PARSUM_REQUIRE_GPU", str(e))


@pytest.fixture(params=["auto", "scalar", "simd", "gpu"])
def backend(request):
    if request.param == "gpu":
        gpu_or_skip()
    return request.param
