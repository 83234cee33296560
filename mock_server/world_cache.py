"""Seeded worlds kept so that the same world is made once: in memory for the next reset, on disk
for the next start (and the next `crm-mock fixtures`).

A seeded world is a pure function of the code, the specs and a few settings: seeding draws from
`--seed` and pins the clock (vendors' `seed_world`), so the same inputs give the same bytes, in
any namespace once the namespace prefix is taken off (tests/test_world_cache.py checks both).
Making 100,000 opportunities is ~6 s of the vendors' own rules; reading them back is under 1 s.

The format is pickle (protocol 5; read as fast as marshal, and unlike marshal it keeps what the
world's records share across chunks, see _chunks; orjson read 3× slower, bench/PROFILE.md step 19)
in small length-prefixed chunks rather than one object: a chunk is read in a few milliseconds and
the interpreter hands other threads a turn between two, so reading a large world during a reset
never holds up other requests for long (one `marshal.loads` of the whole world held the GIL for
0.85 s). Unpickling refuses every class and function (_Unpickler), so a file can hold only data.
Files are named by the key, carry a digest of their chunks and are written atomically; a file that
cannot be read is a miss and is made again.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import logging
import marshal
import os
import pickle
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mock_server.store.base import SeededWorld

FORMAT = "crm-mock world 2"
CHUNK = 2000  # records per chunk: a few milliseconds to read or write one
SEGMENTS = 8  # independent pickle streams a world is written as (see _chunks)
MEMORY_BYTES = 64 << 20  # worlds kept in memory, at most (a 1,000-opportunity world is ~1 MB)
MIN_RECORD_BYTES = 200  # a record takes at least this pickled (Close's: ~480)
DISK_AFTER_S = 0.5  # a world that took this long to make is written to disk (smaller ones: memory only)
DISK_KEEP = 8  # world files kept on disk, the most recently used ...
DISK_BYTES = 2 << 30  # ... and at most this many bytes of them
SUFFIX = ".world"
NAME = re.compile(r"[0-9a-f]{32}\.world")  # only files named so are ever pruned from a directory
STALE_PARTIAL_S = 3600.0  # a half-written file this old was left by a writer that died
log = logging.getLogger("crm_mock.server")


def cache_directory(setting: str) -> Path | None:
    """`--world-cache`: a directory, `off` (None), or `auto`: `CRM_MOCK_WORLD_CACHE` (a directory or
    `off`), else `$XDG_CACHE_HOME/crm-mock/worlds` (`~/.cache/crm-mock/worlds`), where pip and
    pre-commit keep theirs."""
    if setting == "auto":
        setting = os.environ.get("CRM_MOCK_WORLD_CACHE", "")
        if not setting:
            try:
                return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crm-mock" / "worlds"
            except RuntimeError:  # no home directory (a bare container user): worlds are made every time
                return None
    return None if setting.strip().lower() == "off" else Path(setting)


class WorldCache:
    """Worlds by key: `world(key, prefix, make)` returns the kept world, or makes, keeps and returns it."""

    def __init__(self, directory: Path | None = None, memory_bytes: int = MEMORY_BYTES) -> None:
        self.directory = directory
        self.memory_bytes = memory_bytes
        self._memory: collections.OrderedDict[str, list[bytes]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.last = "none"  # how the last world came: "memory", "disk" or "made" (start-up log, tests)

    def world(self, key: str, prefix: str, make: Callable[[], SeededWorld], to_disk: bool = True) -> SeededWorld:
        """The world of `key` with `prefix` (the namespace's "name/") on every name. `to_disk`
        False keeps it in memory only (a world made from a keys file or world files: nothing of
        a user's own is copied into a cache directory)."""
        chunks = self._from_memory(key)
        if chunks is not None:
            self.last = "memory"
            return _world(iter(chunks), prefix)
        started = time.perf_counter()
        if to_disk and self.directory is not None:
            world = self._from_disk(key, prefix)
            if world is not None:
                self.last = "disk"
                log.info("world read from %s in %.1f s", self._path(key), time.perf_counter() - started)
                return world
        world = make()
        took = time.perf_counter() - started
        self.last = "made"
        disk = to_disk and self.directory is not None and took >= DISK_AFTER_S
        records = sum(len(rows) for rows in world.collections.values())
        if not disk and records * MIN_RECORD_BYTES > self.memory_bytes:
            return world  # too large to keep in memory, and not for the disk: not worth serializing
        chunks = _chunks(world, prefix)
        if chunks is None:  # a name outside the namespace: nothing to share between namespaces
            return world
        if disk and self._to_disk(key, chunks):
            log.info("world made in %.1f s and kept in %s for the next start", took, self._path(key))
        self._to_memory(key, chunks)
        return world

    # -- memory ---------------------------------------------------------------------------------------
    def _from_memory(self, key: str) -> list[bytes] | None:
        with self._lock:
            chunks = self._memory.get(key)
            if chunks is not None:
                self._memory.move_to_end(key)
            return chunks

    def _to_memory(self, key: str, chunks: list[bytes]) -> None:
        size = sum(map(len, chunks))
        if size > self.memory_bytes:
            return
        with self._lock:
            self._memory[key] = chunks
            while sum(len(c) for kept in self._memory.values() for c in kept) > self.memory_bytes:
                self._memory.popitem(last=False)

    # -- disk -----------------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / (key + SUFFIX)

    def _from_disk(self, key: str, prefix: str) -> SeededWorld | None:
        path = self._path(key)
        try:
            with path.open("rb") as fh:
                world = _checked_world(_read(fh), key, prefix)
        except OSError:  # absent, or unreadable here (permissions): made instead, the file left alone
            return None
        except Exception:  # noqa: BLE001 - cut short, damaged or foreign: made again, and replaced
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):  # a read-only cache still serves its worlds
            os.utime(path)  # most recently used: the last to be pruned
        return world

    def _to_disk(self, key: str, chunks: list[bytes]) -> bool:
        """Written to a temporary file and renamed: a reader never sees half a world, and two
        processes writing the same world at once both leave a whole one. A full or read-only disk
        only costs the next start its speed. True if the world is on disk."""
        assert self.directory is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.directory, suffix=".partial")
            try:
                with os.fdopen(fd, "wb") as fh:
                    for chunk in [marshal.dumps((FORMAT, key, _digest(chunks))), *chunks]:
                        fh.write(len(chunk).to_bytes(4, "little"))
                        fh.write(chunk)
                os.replace(temporary, self._path(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
            self._prune()
            return True
        except OSError:
            return False

    def _prune(self) -> None:
        """Only what this cache writes is ever removed: files named like a world, beyond the newest
        DISK_KEEP or DISK_BYTES, and half-written files a dead writer left."""
        assert self.directory is not None
        now, worlds = time.time(), []
        for path in self.directory.iterdir():
            with contextlib.suppress(OSError):
                if NAME.fullmatch(path.name):
                    found = path.stat()
                    worlds.append((found.st_mtime, found.st_size, path))
                elif path.suffix == ".partial" and now - path.stat().st_mtime > STALE_PARTIAL_S:
                    path.unlink()
        total = 0
        for kept, (_mtime, size, path) in enumerate(sorted(worlds, reverse=True)):
            total += size
            if kept >= DISK_KEEP or total > DISK_BYTES:
                with contextlib.suppress(OSError):
                    path.unlink()


def _chunks(world: SeededWorld, prefix: str) -> list[bytes] | None:
    """The world without its namespace prefix, as chunks of SEGMENTS pickle streams (an empty chunk
    starts the next); None if a name lacks the prefix. Within a stream an object the world shares
    (a lead's name in its opportunities, a date in a record and its status change) is written once
    and read back shared: chunks pickled or marshalled apart read back 30% larger. A stream holds
    the same slice of every collection, where seeding made the records that share: one stream for
    the whole world kept all of it, but its pickler's memo grew past a million objects (each
    doubling held the interpreter 50 ms and more during a reset)."""
    names = list(world.collections) + list(world.counters)
    if not all(name.startswith(prefix) for name in names):
        return None
    cut = len(prefix)
    columns = [(name[cut:], list(rows), list(rows.values())) for name, rows in world.collections.items()]
    chunks: list[bytes] = []
    for segment in range(SEGMENTS):
        items = []
        for name, keys, records in columns:
            first, end = len(keys) * segment // SEGMENTS, len(keys) * (segment + 1) // SEGMENTS
            # (an empty collection is one empty chunk of the first stream, so that it exists)
            for start in range(first, max(end, first + 1) if segment == 0 else end, CHUNK):
                items.append(("c", name, keys[start:min(start + CHUNK, end)], records[start:min(start + CHUNK, end)]))
        if segment == SEGMENTS - 1:
            items.append(("n", {name[cut:]: value for name, value in world.counters.items()}))
        chunks += [b"", *_pickled(items)]
    return chunks


def _pickled(items: list) -> Iterator[bytes]:
    """Each item as a chunk of one pickle stream (one pickler: what the items share, it writes once)."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5)
    for item in items:
        pickler.dump(item)
        yield out.getvalue()
        out.seek(0)
        out.truncate()


def _read(fh) -> Iterator[bytes]:
    """The chunks of a file, each read whole (marshal.load on a file, tried first, read an object's
    pieces one small read at a time: 12 s for a world read from bytes in under 1 s)."""
    while True:
        size = fh.read(4)
        if not size:
            return
        chunk = fh.read(int.from_bytes(size, "little"))
        if len(size) < 4 or len(chunk) < int.from_bytes(size, "little"):
            raise EOFError("a world file cut short")
        yield chunk


def _digest(chunks) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _checked_world(chunks: Iterator[bytes], key: str, prefix: str) -> SeededWorld:
    """A file's world, if its header names `key` and its chunks are the ones written (a flipped
    byte inside a string would otherwise be served as a slightly different world)."""
    header = marshal.loads(next(chunks))
    if not (isinstance(header, tuple) and len(header) == 3 and header[:2] == (FORMAT, key)):
        raise ValueError("not this world")
    digest = hashlib.blake2b(digest_size=16)
    world = _world((digest.update(chunk) or chunk for chunk in chunks), prefix)
    if digest.hexdigest() != header[2]:
        raise ValueError("a world file whose contents changed")
    return world


class _Unpickler(pickle.Unpickler):
    """A world is dicts, lists, strings and numbers: a pickle naming any class or function (which
    unpickling would import and call) is refused, so a cache file can never run code."""

    def find_class(self, module: str, name: str):
        raise ValueError(f"a world file names {module}.{name}")


def _world(chunks: Iterator[bytes], prefix: str) -> SeededWorld:
    collections_: dict[str, dict] = {}
    counters: dict[str, int] | None = None
    stream = io.BytesIO()
    unpickler = _Unpickler(stream)
    for chunk in chunks:
        if not chunk:  # the next stream: a new unpickler (its memo holds what that stream's chunks share)
            stream = io.BytesIO()
            unpickler = _Unpickler(stream)
            continue
        # One chunk in the buffer at a time (each is one whole `dump`, see _pickled): the stream's
        # chunks before it need not stay in memory, only the objects the unpickler's memo holds.
        stream.seek(0)
        stream.truncate()
        stream.write(chunk)
        stream.seek(0)
        item = unpickler.load()  # one chunk at a time: other threads get the interpreter between two
        if item[0] == "c":
            _, name, keys, records = item
            rows = collections_.setdefault(prefix + name, {})
            rows.update(zip(keys, records, strict=True))
        elif item[0] == "n":
            counters = {prefix + name: value for name, value in item[1].items()}
    if counters is None:
        raise ValueError("a world without its counters (a file cut short)")
    return SeededWorld(collections_, counters)


def fingerprint(*parts: object) -> str:
    """A key from everything a world depends on: the code and specs (`code_digest`), and `parts`."""
    return hashlib.sha256(repr((FORMAT, *parts)).encode()).hexdigest()[:32]


_code_digest: str | None = None


def code_digest() -> str:
    """The package's source and version (the version too: an install may ship no .py files), its
    specs, the versions of Python (its pickle and marshal formats, `random`), Faker (its names and addresses) and
    PyYAML (the spec examples copied into worlds): a change to any of them makes every world anew."""
    global _code_digest
    if _code_digest is None:
        import sys
        from importlib.metadata import version

        from mock_server.spec import SPECS_DIR

        versions = "\0".join([sys.version, *(version(name) for name in ("crm-mock", "faker", "pyyaml"))])
        digest = hashlib.sha256(versions.encode())
        package = Path(__file__).resolve().parent
        for path in sorted([*package.rglob("*.py"), *SPECS_DIR.glob("*.yaml")]):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        _code_digest = digest.hexdigest()
    return _code_digest
