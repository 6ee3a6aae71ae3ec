"""Exact sums of integer ranges: on every core with SIMD, or on a GPU, on one machine — or past it,
through any ``concurrent.futures`` executor (process pools, Dask, mpi4py) — with every chunk's
partial checked against the closed form n·(a+b)/2.

>>> import parsum
>>> parsum.sum(range(1, 10**9))
499999999500000000
>>> parsum.sum(range(2**64 - 3, 2**64))
55340232221128654845
"""

from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import operator
import os

from . import _native

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "InvalidRangeError",
    "ParsumError",
    "Report",
    "VerificationError",
    "backends",
    "closed_form",
    "explain",
    "run",
    "sum",
]

#: The backends ``backend=`` takes.
BACKENDS = ("auto", "scalar", "simd", "gpu")


class ParsumError(Exception):
    """Everything parsum raises (a wrong type is ``TypeError``, Ctrl-C ``KeyboardInterrupt``)."""


class InvalidRangeError(ParsumError, ValueError):
    """The range is not ``range(start, stop)`` with ``0 <= start <= stop <= 2**64``, step 1."""


class ConfigError(ParsumError, ValueError):
    """A bad option: zero chunks, an unknown backend, a bad environment variable."""


class VerificationError(ParsumError):
    """A partial sum disagreed with the closed form, or a chunk came back twice or never."""


class BackendUnavailableError(ParsumError):
    """The backend asked for cannot run here (no GPU, a lost device, a CPU without a kernel)."""


@dataclasses.dataclass(frozen=True)
class Report:
    """What one sum gave, and where it ran."""

    sum: int
    expected: int
    verified: bool
    elements: int
    chunks: int
    #: ``scalar``, ``simd`` or ``gpu`` — or, for a sum on an executor, the one every chunk ran on
    #: (``mixed`` when they differ; ``none`` when every chunk came from the checkpoint journal, or
    #: the range is empty).
    backend: str
    #: The kernel, as ``backend`` (``mixed``, ``none``) for a sum on an executor.
    kernel: str
    #: The device; for a sum on an executor ``"N chunks on <executor>: <devices>"`` (``"N chunks
    #: on the journal: nothing ran"`` when the journal held every chunk, ``"0 chunks on
    #: <executor>: nothing ran"`` for an empty range).
    device: str
    #: ``predicted``, ``explored``, ``forced`` (by ``PARSUM_BACKEND``) or ``explicit``; for a sum
    #: on an executor the chunks' (``mixed`` when they differ, ``journal`` when the journal held
    #: every chunk, ``none`` for an empty range).
    chosen_by: str
    seconds: float

    @property
    def elements_per_second(self) -> float:
        return self.elements / max(self.seconds, 1e-12)

    def __repr__(self) -> str:
        rate = self.elements_per_second
        return (
            f"Report(sum={self.sum}, elements={self.elements}, chunks={self.chunks}, "
            f"backend={self.backend!r}, kernel={self.kernel!r}, device={self.device!r}, "
            f"chosen_by={self.chosen_by!r}, verified={self.verified}, "
            f"seconds={self.seconds:.6f}, rate={rate / 1e9:.2f} G/s)"
        )


def closed_form(first: int, last: int) -> int:
    """The sum of ``first..=last`` by the closed form (0 when ``first > last``), for ``first`` and
    ``last`` in parsum's domain, 0 to 2**64 - 1."""
    bounds = []
    for name, x in (("first", first), ("last", last)):
        x = _int(name, x)
        if not 0 <= x < 2**64:
            raise InvalidRangeError(f"{name} must be from 0 to 2**64 - 1, got {x}")
        bounds.append(x)
    return _closed_form(*bounds)


def _closed_form(first: int, last: int) -> int:
    """:func:`closed_form` unchecked, for bounds parsum made (``last`` is ``-1`` for an empty
    range from 0)."""
    return 0 if first > last else (last - first + 1) * (first + last) // 2


def _kind(x: object) -> str:
    """A value's type as an error names it: `numpy.bool`, not a second `bool`."""
    t = type(x)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _int(name: str, x: object) -> int:
    """``x`` as an int: any integer ``range()`` takes (numpy's too, by ``__index__``), not a bool."""
    if isinstance(x, bool) or not hasattr(type(x), "__index__"):
        raise TypeError(f"{name} must be an int, got {_kind(x)}")
    try:
        return operator.index(x)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:  # numpy's arrays have __index__, which refuses most
        raise TypeError(f"{name} must be an int, got {_kind(x)} ({e})") from e


def _adapter(backend: str, adapter: object) -> int | str:
    """``adapter=`` as the native layer takes it: an index, or a name. A str of digits is an
    index, as the CLI's ``--adapter 0`` is. Its type is checked first, whatever the backend."""
    if not isinstance(adapter, str):
        try:
            adapter = _int("adapter", adapter)
        except TypeError:
            kind = _kind(adapter)
            raise TypeError(f"adapter must be an index (int) or a name (str), got {kind}") from None
    if backend != "gpu":
        raise ConfigError(f"adapter= applies to backend='gpu' only, not {backend!r}")
    see = "see parsum.backends()"
    if isinstance(adapter, str):
        text = adapter.strip()
        if not text:
            raise ConfigError(
                "an empty adapter name would match every adapter: give a name or an index"
            )
        if text[0] == "-" and text[1:2].isdigit():
            raise ConfigError(f"{adapter!r} has a minus sign: adapter indices start at 0 ({see})")
        if not (text.isascii() and text.isdigit()):
            try:
                adapter.encode()
            except UnicodeEncodeError:
                raise ConfigError(f"adapter name {adapter!r} is not valid Unicode") from None
            return adapter
        adapter = int(text)
    if adapter < 0:
        raise ConfigError(f"adapter indices start at 0 ({see}), got {adapter}")
    if adapter >= 2**64:
        _native.check_environment()  # a bad environment refuses first, as for any index
        raise BackendUnavailableError(f"no adapter at index {adapter} ({see})")
    return adapter


def _check(
    r: object,
    backend: object,
    chunks: object,
    verify: object = True,
    window: object = None,
    executor: object = None,
    checkpoint: object = None,
    adapter: object = None,
) -> tuple[int | None, int | None, str | None, int | str | None]:
    """Raises on a bad argument; returns ``chunks`` and ``window`` as ints, ``checkpoint`` as a
    str path (bytes decoded as ``os.fsdecode`` does), ``adapter`` as an int or a str."""
    if not isinstance(r, range):
        raise TypeError(f"expected a range, got {_kind(r)}")
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a str, got {_kind(backend)}")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    chunks = None if chunks is None else _int("chunks", chunks)
    if chunks is not None and not 1 <= chunks < 2**64:
        raise ConfigError(f"chunks must be from 1 to 2**64 - 1, got {chunks}")
    if not isinstance(verify, bool):
        raise TypeError(f"verify must be a bool, got {_kind(verify)}")
    window = None if window is None else _int("window", window)
    if window is not None and window < 1:
        raise ConfigError(f"window must be a positive int, got {window}")
    if window is not None and executor is None:
        raise ConfigError("window bounds the tasks in flight on an executor: pass executor= too")
    if isinstance(executor, type):
        name = executor.__qualname__
        raise TypeError(f"executor must be a concurrent.futures.Executor, got the class {name}: make one, {name}(...)")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {_kind(executor)}")
    if checkpoint is not None and not isinstance(checkpoint, (str, bytes, os.PathLike)):
        raise TypeError(f"checkpoint must be a path (str, bytes or os.PathLike), got {_kind(checkpoint)}")
    path = None if checkpoint is None else os.fsdecode(checkpoint)
    if path == "":
        raise ConfigError("checkpoint must name a file, got an empty path")
    if path is not None and "\0" in path:
        raise ConfigError(f"checkpoint must not hold a NUL byte, got {path!r}")
    if adapter is not None:
        adapter = _adapter(backend, adapter)
    return chunks, window, path, adapter


def run(
    r: range,
    *,
    backend: str = "auto",
    chunks: int | None = None,
    executor: concurrent.futures.Executor | None = None,
    verify: bool = True,
    checkpoint: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None,
    window: int | None = None,
    adapter: int | str | None = None,
) -> Report:
    """Sums ``r`` exactly and says how.

    ``backend``: ``auto`` (the fastest here, learnt from what runs), ``scalar``, ``simd`` or
    ``gpu``. ``chunks``: how many near-equal chunks to cut ``r`` into (default: 100, fewer for
    short ranges). ``verify``: check every chunk and the total against the closed form.

    With ``executor`` (any ``concurrent.futures.Executor``), each chunk is a task that runs parsum
    where it lands, at most ``window`` in flight (default: four per worker); every partial is
    checked here in Python ints, and every chunk must come back exactly once. ``checkpoint``
    names a journal file: finished chunks are recorded there, so that a run killed and started
    again redoes only the rest.

    ``adapter`` (with ``backend="gpu"``): the GPU adapter to sum on, by its ``adapter`` index in
    :func:`backends` (an int, or a str of digits) or by its name (case-insensitive; else the only
    one whose name contains it); by default ``WGPU_ADAPTER_NAME``, else the high-performance one.
    """
    chunks, window, path, adapter = _check(
        r, backend, chunks, verify, window, executor, checkpoint, adapter=adapter
    )
    if executor is not None or path is not None:
        from ._executor import distribute

        return distribute(r, executor, backend, chunks, verify, path, window, adapter=adapter)
    return Report(*_native.run(r, backend, chunks, verify, None, adapter))


def sum(  # noqa: A001 - the tutorial's word
    r: range,
    *,
    backend: str = "auto",
    chunks: int | None = None,
    executor: concurrent.futures.Executor | None = None,
    verify: bool = True,
    checkpoint: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None,
    window: int | None = None,
    adapter: int | str | None = None,
) -> int:
    """The exact sum of ``r`` (``range(start, stop)``, ``0 <= start <= stop <= 2**64``), as an
    ``int``; the options are those of :func:`run`."""
    plain = all(x is None for x in (chunks, executor, checkpoint, window, adapter))
    if backend == "auto" and verify is True and plain:
        return _native.sum(r)
    return run(
        r,
        backend=backend,
        chunks=chunks,
        executor=executor,
        verify=verify,
        checkpoint=checkpoint,
        window=window,
        adapter=adapter,
    ).sum


def backends() -> list[dict[str, object]]:
    """The backends usable here: the CPU ones, and one entry per GPU adapter wgpu finds (its
    ``default`` is true for the one ``backend="gpu"`` opens)."""
    return _native.backends_here()


def explain(elements: int, chunks: int | None = None) -> str:
    """Why ``auto`` would run a sum of ``elements`` elements (in ``chunks`` chunks) where it
    would: every backend's prediction, and what it rests on."""
    elements = _int("elements", elements)
    if not 0 <= elements <= 2**64:
        raise ConfigError(f"elements must be from 0 to 2**64, got {elements}")
    chunks, _, _, _ = _check(range(0), "auto", chunks)
    return _native.explain(elements, chunks)


atexit.register(_native.save)
