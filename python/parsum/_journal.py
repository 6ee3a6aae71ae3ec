"""The checkpoint journal: one header line naming the job, then one line per finished chunk, each
appended whole and flushed to disk before the chunk counts as done. A kill at any moment leaves at
most a torn last line, which is dropped when the journal is opened again; a line whose checksum or
closed form is wrong is dropped too (its chunk is summed again), never believed."""

from __future__ import annotations

import json
import os
import stat
import weakref
import zlib

HEADER = "parsum-journal"
#: Longer than any line a journal holds (a header of two 20-digit bounds and a 20-digit count, an
#: entry's 40-digit sum).
LINE_MAX = 4096


def _line(index: int, partial: int) -> str:
    body = f"{index}:{partial}"
    return json.dumps({"i": index, "sum": str(partial), "crc": zlib.crc32(body.encode())}) + "\n"


def _create(path: str, header: str) -> None:
    """Makes the journal at ``path`` holding ``header``, never replacing one another run made
    meanwhile (``os.replace`` would, losing its chunks): written whole beside it under a unique
    name, then linked into place. Where hard links are not offered, it is created exclusively
    and written in place (a kill mid-write leaves a header that is refused, never believed)."""
    import tempfile

    directory = os.path.dirname(path) or "."
    # A short name of its own: the journal's name may be as long as the file system allows.
    fd, tmp = tempfile.mkstemp(prefix=".parsum-journal-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(header)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            try:
                with open(path, "x", encoding="utf-8") as f:
                    f.write(header)
                    f.flush()
                    os.fsync(f.fileno())
            except FileExistsError:
                pass
    finally:
        os.unlink(tmp)


class Journal:
    """The journal of the job ``range(start, stop)`` in ``chunks`` chunks, at ``path``."""

    def __init__(self, path: str | os.PathLike[str], start: int, stop: int, chunks: int) -> None:
        from . import ConfigError
        from ._executor import chunk_bounds

        self.path = os.fsdecode(path)
        job = {HEADER: 1, "start": str(start), "stop": str(stop), "chunks": chunks}
        self.done: dict[int, int] = {}
        try:
            if not os.path.exists(self.path):
                _create(self.path, json.dumps(job) + "\n")
        except OSError as e:
            # A missing or read-only directory: say so of the checkpoint, not of a temporary file.
            why = e.strerror or e
            raise ConfigError(f"checkpoint {self.path} cannot be created: {why}") from e
        try:
            self.file = open(self.path, "r+b")  # noqa: SIM115 - kept open for appends
        except OSError as e:
            # A FIFO opens, then fails as "not seekable": name what it is instead.
            if os.path.exists(self.path) and not os.path.isfile(self.path):
                raise ConfigError(f"checkpoint {self.path} is not a regular file") from e
            raise ConfigError(f"checkpoint {self.path} cannot be opened: {e}") from e
        if not stat.S_ISREG(os.fstat(self.file.fileno()).st_mode):
            self.file.close()
            raise ConfigError(f"checkpoint {self.path} is not a regular file")
        try:
            import fcntl

            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except OSError as e:
            self.file.close()
            raise ConfigError(f"checkpoint {self.path} is in use by another run") from e
        _OPEN.add(self)
        try:
            self._read(job, chunk_bounds(start, stop, chunks))
        except BaseException:
            self.close()  # else the lock lives as long as the exception
            raise

    def _read(self, job: dict[str, object], bounds: list[tuple[int, int]]) -> None:
        """Keeps every finished chunk the journal proves and cuts a torn last line off, reading
        line by line, none longer than LINE_MAX: the path may name a huge file."""
        from . import ConfigError, _closed_form

        def parse(raw: bytes) -> object:
            try:
                return json.loads(raw)
            except (ValueError, RecursionError):
                return None

        first = self.file.readline(LINE_MAX)
        if not first.endswith(b"\n") or parse(first) != job:
            raise ConfigError(f"checkpoint {self.path} is not the journal of this job ({job})")
        end = self.file.tell()
        while raw := self.file.readline(LINE_MAX):
            if not raw.endswith(b"\n"):
                continue  # a torn last line, or a piece of a line too long to be an entry
            end = self.file.tell()
            entry = parse(raw)
            try:
                index, partial = int(entry["i"]), int(entry["sum"])  # type: ignore[index]
                if zlib.crc32(f"{index}:{partial}".encode()) != entry["crc"]:  # type: ignore[index]
                    continue
            except (ValueError, KeyError, TypeError, OverflowError):
                continue
            if 0 <= index < len(bounds) and partial == _closed_form(*bounds[index]):
                self.done.setdefault(index, partial)
        self.file.seek(end)
        self.file.truncate(end)

    def record(self, index: int, partial: int) -> None:
        """Appends a finished chunk and waits until the disk has it."""
        self.file.write(_line(index, partial).encode())
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        _OPEN.discard(self)
        self.file.close()


#: Journals open in this process. A forked child (a process pool's worker, forked at the first
#: submit) closes its copies: the lock lives as long as any copy is open, so a worker outliving
#: a killed run would keep its journal locked. Closing a copy never unlocks the parent's.
_OPEN: weakref.WeakSet[Journal] = weakref.WeakSet()


def _forget_in_child() -> None:
    for journal in list(_OPEN):
        journal.file.close()
    _OPEN.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
