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
#: Longer than any header: two 20-digit bounds, a 20-digit chunk count and the keys.
HEADER_MAX = 4096


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
        from . import ConfigError, closed_form
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
        # The header first, read no further than a header goes: the path may name a huge file
        # that is no journal at all.
        first = self.file.readline(HEADER_MAX)
        try:
            header = json.loads(first) if first.endswith(b"\n") else None
        except ValueError:
            header = None
        if header != job:
            self.file.close()
            raise ConfigError(f"checkpoint {self.path} is not the journal of this job ({job})")
        data = first + self.file.read()
        lines = data.split(b"\n")
        bounds = chunk_bounds(start, stop, chunks)
        # Every complete line after the header; the last piece, if not ended by a newline, is torn.
        for raw in lines[1:-1]:
            try:
                entry = json.loads(raw)
                index, partial = int(entry["i"]), int(entry["sum"])
                if zlib.crc32(f"{index}:{partial}".encode()) != entry["crc"]:
                    continue
            except (ValueError, KeyError, TypeError):
                continue
            if 0 <= index < len(bounds) and partial == closed_form(*bounds[index]):
                self.done.setdefault(index, partial)
        end = len(data) - len(lines[-1])
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
