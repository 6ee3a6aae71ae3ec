#!/usr/bin/env bash
# Every test: the Rust suite (`cargo test`), then the Python package built and installed into a
# local virtual environment (.venv) with what its tests need, and its pytest suite.
set -euo pipefail
cd "$(dirname "$0")"

cargo test

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q ./python "pytest>=8" "dask[distributed]>=2024.1" "mpi4py>=4" "mpich>=4"
# mpich's wheel puts mpiexec beside the venv's python.
PATH="$PWD/.venv/bin:$PATH" .venv/bin/python -m pytest -q python/tests
