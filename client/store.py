"""The result store: successful answers kept on disk, so a repeated seeded request costs nothing.

One file per request key: a JSON header line, then the result files' bytes back to back. Writes
are atomic (a temporary file renamed into place), so concurrent threads and processes never see
half an entry; an entry that fails to parse is removed and counts as missing. The folder is
size-capped; reading an entry refreshes its modification time, and the least recently used
entries go first. The key hashes the request body as sent (model, every field, the exact image
bytes, the seed), the service, the API host and a one-way fingerprint of the key and team, so
another credential never reads an entry; the key itself never reaches the disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .codec import json_bytes

log = logging.getLogger(__name__)

SUFFIX = ".entry"
MAX_HEADER = 64 * 1024
MAX_RESULTS = 64
STALE_TEMP_S = 3600  # a temporary file this old was left by a crashed writer

_clock_lock = threading.Lock()
_last_stamp = 0


def _stamp() -> int:
    """A modification time (ns) later than every one this process handed out before.

    File systems keep coarse clocks (ext4: one kernel tick), so entries written or read in a
    row would tie; strictly increasing stamps keep the LRU order exact within a process.
    """
    global _last_stamp
    with _clock_lock:
        _last_stamp = max(time.time_ns(), _last_stamp + 1000)
        return _last_stamp


@dataclass(frozen=True)
class StoredResult:
    """One result file as the endpoint sent it, with its MIME type and seed."""

    data: bytes
    mime: str
    seed: int | None
    response_format: str


def credential_fingerprint(token: str | None, team: str | None) -> str:
    """A one-way fingerprint of the key and team a request is sent with (part of its store key), so
    another key or team never reads the entries; the key itself never reaches the disk."""
    text = f"comfyui-friendli credential\0{token or ''}\0{team or ''}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_key(service: str, api_host: str, body: dict[str, Any], credential: str = "") -> str | None:
    """The store key of a request, or None when it has no fixed seed (never answered from the store).
    ``credential`` is ``credential_fingerprint`` of the key and team it is sent with."""
    if not isinstance(body, dict) or body.get("seed") is None:
        return None
    canonical = json_bytes([service, api_host, credential, body], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True)  # json.dumps' bytes, its base64 copied in rather than scanned
    return hashlib.sha256(canonical).hexdigest()


class ResultStore:
    """A size-capped folder of results keyed by ``request_key``."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = int(max_bytes)

    @staticmethod
    def default_folder() -> Path:
        """Outside ComfyUI: the user's cache directory (inside, the pack uses its user folder)."""
        if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
            base = Path(os.environ["LOCALAPPDATA"])
        else:
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return base / "comfyui-friendli" / "results"

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError("not a store key")
        return self.folder / f"{key}{SUFFIX}"

    def get(self, key: str) -> list[StoredResult] | None:
        """The stored results of ``key`` (refreshing its recency), or None."""
        path = self._path(key)
        try:  # never blocks on a FIFO or device, never follows a link
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            if path.is_symlink():
                log.warning("comfyui-friendli: removing %s from the result store: not a regular file", path.name)
                _unlink(path)
            else:
                log.warning("comfyui-friendli: could not read the result store (%s)",
                            exc.strerror or type(exc).__name__)
            return None
        seen = os.fstat(fd)
        if not stat.S_ISREG(seen.st_mode):
            os.close(fd)
            log.warning("comfyui-friendli: removing %s from the result store: not a regular file", path.name)
            _unlink_if_same(path, seen)
            return None
        with os.fdopen(fd, "rb") as f:
            try:
                results = _read_entry(f, seen.st_size, self.max_bytes)
            except (OSError, ValueError, RecursionError):
                log.warning("comfyui-friendli: removing an unreadable result store entry %s", path.name)
                _unlink_if_same(path, seen)
                return None
        stamp = _stamp()
        try:
            os.utime(path, ns=(stamp, stamp))
        except OSError:
            pass
        return results

    def discard(self, key: str) -> None:
        """Remove the entry of ``key`` (an answer that turned out not to be an image)."""
        _unlink(self._path(key))

    def put(self, key: str, results: list[StoredResult]) -> None:
        """Store ``results`` under ``key``; disk problems are logged, never raised."""
        try:
            header = json.dumps([{"size": len(r.data), "mime": r.mime, "seed": r.seed,
                                  "response_format": r.response_format} for r in results]).encode()
            size = len(header) + 1 + sum(len(r.data) for r in results)
            if not results or len(results) > MAX_RESULTS or size > self.max_bytes or len(header) > MAX_HEADER:
                return  # nothing to keep, or more than the whole cap: the store is only an optimisation
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(header + b"\n")
                    for r in results:
                        f.write(r.data)
                stamp = _stamp()
                os.utime(tmp, ns=(stamp, stamp))
                os.replace(tmp, self._path(key))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._evict()
        except OSError as exc:
            log.warning("comfyui-friendli: could not write the result store (%s); going on without it",
                        exc.strerror or type(exc).__name__)

    def clear(self) -> None:
        """Remove every entry (an entry another process holds open on Windows stays; it is logged)."""
        for path in self._entries():
            _unlink(path)
        self._remove_stale_temps()

    def stats(self) -> dict[str, Any]:
        """Entries, bytes used, the cap and the folder."""
        sizes = [_stat(p) for p in self._entries()]
        sizes = [s for s in sizes if s is not None]
        return {"entries": len(sizes), "size_bytes": sum(s.st_size for s in sizes),
                "max_bytes": self.max_bytes, "path": str(self.folder)}

    def _entries(self) -> list[Path]:
        try:
            return [p for p in self.folder.iterdir() if p.name.endswith(SUFFIX)]
        except OSError:
            return []

    def _evict(self) -> None:
        """Remove least recently used entries until the folder fits the cap."""
        entries = [(s.st_mtime_ns, s.st_size, p) for p in self._entries() if (s := _stat(p)) is not None]
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            _unlink(path)  # a file another process already removed counts as gone
            total -= size
        self._remove_stale_temps()

    def _remove_stale_temps(self) -> None:
        """Temporary files of writers that crashed before renaming them (a live writer's are recent)."""
        try:
            temps = [p for p in self.folder.iterdir() if p.name.startswith(".tmp-") and p.name.endswith(".part")]
        except OSError:
            return
        now = time.time()
        for path in temps:
            if (s := _stat(path)) is not None and now - s.st_mtime > STALE_TEMP_S:
                _unlink(path)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except OSError:
        return None


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("comfyui-friendli: could not remove %s from the result store (%s)", path.name,
                    exc.strerror or type(exc).__name__)


def _unlink_if_same(path: Path, seen: os.stat_result) -> None:
    """Remove ``path`` only if it is still the file that was read (a writer may have replaced it since)."""
    now = _stat(path)
    if now is not None and (now.st_dev, now.st_ino) == (seen.st_dev, seen.st_ino):
        _unlink(path)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_entry(f: Any, file_size: int, max_bytes: int) -> list[StoredResult]:
    """Parse an entry, checking every field; ValueError when it is not a complete, valid entry.

    An entry larger than ``max_bytes`` is refused before anything is read, so no read exceeds the cap.
    """
    if file_size > max_bytes:
        raise ValueError("larger than the cap")
    header = json.loads(f.readline(MAX_HEADER))
    if not isinstance(header, list) or not 0 < len(header) <= MAX_RESULTS:
        raise ValueError("bad header")
    results = []
    for item in header:
        if not isinstance(item, dict):
            raise ValueError("bad item")
        size, seed = item.get("size"), item.get("seed")
        mime, fmt = item.get("mime"), item.get("response_format")
        if not (_is_int(size) and 0 <= size <= max_bytes and isinstance(mime, str) and isinstance(fmt, str)
                and (seed is None or _is_int(seed))):
            raise ValueError("bad item")
        data = f.read(size)
        if len(data) != size:
            raise ValueError("truncated")
        results.append(StoredResult(data, mime, seed, fmt))
    if f.read(1):
        raise ValueError("trailing bytes")
    return results
