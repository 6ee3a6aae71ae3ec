"""Sums past one machine: the range cut into chunks, each a task on any
``concurrent.futures.Executor``, every partial checked here against the closed form, every chunk
required exactly once, and finished chunks journalled so that a killed run loses nothing."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import time

from . import _native
from ._journal import Journal

#: Chunks the range is cut into by default: the tutorial's 100.
DEFAULT_CHUNKS = 100
#: Most chunks a run on an executor (or with a checkpoint) takes: each is a task, a plan entry and
#: a partial kept here, so 10^7 already holds gigabytes; a longer plan is refused, not attempted.
MAX_TASKS = 10**7


def chunk_bounds(start: int, stop: int, chunks: int) -> list[tuple[int, int]]:
    """``(first, last)`` of each of ``chunks`` near-equal chunks of ``range(start, stop)``, as
    parsum's own plans cut them (the first ``n % chunks`` one longer); at most one per element."""
    n = stop - start
    chunks = min(chunks, n)
    if chunks == 0:
        return []
    base, longer = divmod(n, chunks)
    out, at = [], start
    for i in range(chunks):
        length = base + (i < longer)
        out.append((at, at + length - 1))
        at += length
    return out


#: Numbers for executor runs, so that a failed one can stop its own chunks (see ``chunk_task``).
_RUNS = itertools.count(1)

#: What a task returns besides its chunk and partial: how and where the chunk ran.
ORIGIN = ("backend", "kernel", "device", "chosen_by")


def chunk_task(
    index: int,
    first: int,
    last: int,
    backend: str,
    run_id: int | None = None,
    adapter: int | str | None = None,
) -> tuple[int, int, str, str, str, str]:
    """One chunk, where it lands: ``(index, partial, backend, kernel, device, chosen_by)``.
    Module-level, so any executor can pickle it by name. ``run_id``: the run it belongs to, which
    stops it if it sums in this process when the run fails; ``adapter``: the GPU adapter, as
    :func:`parsum.run` takes it."""
    fields = _native.run(range(first, last + 1), backend, 1, True, run_id, adapter)
    partial, kind, kernel, device, chosen_by = fields[0], *fields[5:9]
    return index, partial, kind, kernel, device, chosen_by


def _one(values: set[str], many: str) -> str:
    return next(iter(values)) if len(values) == 1 else many


def _workers(executor: concurrent.futures.Executor | None) -> int:
    """Workers behind ``executor``: a Dask client's threads, a pool's ``_max_workers`` or
    mpi4py's ``num_workers``; else this machine's CPUs."""
    client = getattr(executor, "_client", None)
    try:
        threads = sum(client.nthreads().values()) if client is not None else 0
    except Exception:  # noqa: BLE001 - any client that cannot say falls back to the others
        threads = 0
    if isinstance(threads, int) and threads > 0:
        return threads
    for attr in ("_max_workers", "num_workers"):
        n = getattr(executor, attr, None)
        if isinstance(n, int) and n > 0:
            return n
    return os.cpu_count() or 1


def distribute(r, executor, backend, chunks, verify, checkpoint, window, adapter):
    """:func:`parsum.run` on an executor (or, with only a checkpoint, on this process)."""
    from . import Report, VerificationError, _closed_form

    started = time.perf_counter()
    from . import ConfigError

    # Refused here as on every other path, even where no chunk runs in this process (or at all):
    # a range parsum does not take (a step, a reversed range), then a bad environment.
    _native.check_range(r)
    _native.check_environment()
    chunks = DEFAULT_CHUNKS if chunks is None else chunks
    if min(chunks, r.stop - r.start) > MAX_TASKS:
        raise ConfigError(f"chunks={chunks}: a run on an executor takes at most {MAX_TASKS:,} chunks, each a task")
    plan = chunk_bounds(r.start, r.stop, chunks)
    journal = Journal(checkpoint, r.start, r.stop, len(plan)) if checkpoint is not None else None
    where: set[tuple[str, ...]] = set()
    try:
        done = _gather(plan, executor, backend, verify, journal, window, where, adapter=adapter)
    finally:
        if journal:
            journal.close()
    missing = [i for i in range(len(plan)) if i not in done]
    if missing:
        raise VerificationError(f"chunks {missing[:10]} never came back")
    total = 0
    for partial in done.values():
        total += partial
    expected = _closed_form(r.start, r.stop - 1)
    if verify and total != expected:
        raise VerificationError(f"the total is {total}, expected {expected}")
    kinds, kernels, devices, chosen = ({o[k] for o in where} for k in range(len(ORIGIN)))
    on = type(executor).__name__ if executor else "this process"
    if not where:
        devices = {"nothing ran"}
        on = "the journal" if plan else on
    return Report(
        sum=total,
        expected=expected,
        verified=bool(verify),
        elements=r.stop - r.start,  # len() of a range stops at 2**63 - 1
        chunks=len(plan),
        backend=_one(kinds, "mixed") if kinds else "none",
        kernel=_one(kernels, "mixed") if kernels else "none",
        device=f"{len(plan)} chunks on {on}: "
        + ("; ".join(sorted(devices)) if len(devices) <= 3 else f"{len(devices)} devices"),
        chosen_by=_one(chosen, "mixed") if chosen else "journal" if plan else "none",
        seconds=time.perf_counter() - started,
    )


def _gather(plan, executor, backend, verify, journal, window, where, adapter) -> dict[int, int]:
    """Every chunk of ``plan`` not already in ``journal``, each checked as it comes back; their
    origins added to ``where``."""
    from . import VerificationError, _closed_form

    done: dict[int, int] = dict(journal.done) if journal else {}

    def take(index: int, partial: object, *origin: str) -> None:
        # Exact types: a subclass could lie in its comparisons, or not hash.
        if type(index) is not int or not 0 <= index < len(plan):
            raise VerificationError(f"a task returned chunk {index!r}, which is not in the plan")
        first, last = plan[index]
        if index in done:
            raise VerificationError(f"chunk {index} ({first}..={last}) came back twice")
        if type(partial) is not int or (verify and partial != _closed_form(first, last)):
            want = _closed_form(first, last)
            raise VerificationError(f"chunk {index} ({first}..={last}): got {partial!r}, expected {want}")
        if not all(type(o) is str for o in origin):
            raise VerificationError(f"chunk {index}: a task said it ran on {origin!r}")
        done[index] = partial
        where.add(origin)
        if journal:
            journal.record(index, partial)

    todo = [i for i in range(len(plan)) if i not in done]
    if executor is None:
        for i in todo:
            take(*chunk_task(i, *plan[i], backend, adapter=adapter))
    else:
        limit = window if window is not None else 4 * _workers(executor)
        run_id = next(_RUNS)
        pending: set[concurrent.futures.Future] = set()
        queue = iter(todo)
        try:
            while True:
                for i in queue:
                    # Positional: an executor's submit need not take keywords.
                    task = executor.submit(chunk_task, i, *plan[i], backend, run_id, adapter)
                    # Waiting on it needs a concurrent.futures.Future (a dask Client's own
                    # futures are not: its get_executor() gives them).
                    if not isinstance(task, concurrent.futures.Future):
                        if callable(getattr(task, "cancel", None)):
                            task.cancel()
                        raise TypeError(
                            f"executor.submit returned {task!r}, not a concurrent.futures.Future "
                            "(for a dask Client, pass client.get_executor())"
                        )
                    pending.add(task)
                    if len(pending) >= limit:
                        break
                if not pending:
                    break
                finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for f in finished:
                    result = f.result()
                    # An exact tuple: a subclass could lie in its len() or its items.
                    if not (type(result) is tuple and len(result) == 2 + len(ORIGIN)):
                        raise VerificationError(f"a task returned {result!r}, not (chunk, partial, {', '.join(ORIGIN)})")
                    take(*result)
        except BaseException:
            # The run is over (Ctrl-C, a failed check): queued chunks are cancelled, and those
            # summing on this process's threads stop, or leaving the executor would wait for them
            # (signals reach only the main thread).
            for f in pending:
                f.cancel()
            _native.stop_run(run_id)
            raise
    return done
