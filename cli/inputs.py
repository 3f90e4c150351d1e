"""What a bulk command line run works on: INPUT arguments (files, folders walked lazily, ``@manifest``
files, URLs) as a stream of ``Entry``, its shard, and the plan checked before anything is sent.

A folder is walked depth-first, each directory's names sorted (only the names of one directory are
held at a time); hidden names (starting with ".") are passed over, files that are not png, jpg,
jpeg or webp are counted as non-images. An entry's ``rel`` is its path relative to the folder it
came from (the file name for a file given directly, a manifest line or a URL); shards and output
names follow ``rel``, so machines agree on them whatever order their listings come in.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import numpy as np

from ..client.errors import FriendliInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
FORMAT_SUFFIX = {"png": ".png", "url": ".png", "jpeg": ".jpg", "jpg": ".jpg", "raw": ".webp"}


@dataclass(frozen=True)
class Entry:
    """One input: ``source`` (a path or URL to read; None for a generation), ``rel`` (see the module
    docstring) and ``index``, its position in the whole listing, every shard included."""

    source: str | None
    rel: str
    index: int

    @property
    def label(self) -> str:
        return self.source if self.source is not None else self.rel


class Listing:
    """The entries of INPUT arguments, walked anew (and lazily) each time it is iterated. A folder at
    ``exclude`` (the output folder) is never walked. ``non_images`` counts the last walk's."""

    def __init__(self, inputs: Iterable[str], exclude: Path | None = None) -> None:
        self.inputs = list(inputs)
        self.exclude = os.path.realpath(exclude) if exclude is not None else None
        self.non_images = 0

    def __iter__(self) -> Iterator[Entry]:
        self.non_images = 0
        index = 0
        for arg in self.inputs:
            for source, rel in self._expand(arg):
                yield Entry(source, rel, index)
                index += 1

    def _expand(self, arg: str) -> Iterator[tuple[str, str]]:
        if is_url(arg):
            yield arg, url_name(arg)
        elif arg.startswith("@"):
            yield from manifest(arg[1:])
        elif os.path.isdir(arg):
            yield from self._walk(arg, "")
        elif os.path.isfile(arg):
            yield arg, os.path.basename(arg)
        else:
            raise FriendliInputError("INPUT", f"{arg!r} does not exist (give image files, folders, http(s) URLs "
                                     "or @MANIFEST)")

    def _walk(self, folder: str, prefix: str) -> Iterator[tuple[str, str]]:
        names: list[str] = []  # ~70 bytes a name: the one directory's listing, to sort it
        folders: set[str] = set()
        others: set[str] = set()  # neither a folder nor a file (a broken link, a socket …)
        try:
            with os.scandir(folder) as it:
                for e in it:
                    if e.name.startswith("."):
                        continue
                    names.append(e.name)
                    if e.is_dir(follow_symlinks=False):
                        folders.add(e.name)
                    elif not e.is_file():
                        others.add(e.name)
        except OSError as exc:
            raise FriendliInputError("INPUT", f"cannot list the folder {folder!r}: {exc.strerror}") from None
        names.sort()
        for name in names:
            path = os.path.join(folder, name)
            if name in folders:
                if os.path.realpath(path) != self.exclude:
                    yield from self._walk(path, f"{prefix}{name}/")
            elif name.lower().endswith(IMAGE_SUFFIXES) and name not in others:
                yield path, prefix + name
            else:
                self.non_images += 1


def generations(count: int, stem: str = "generated") -> Iterator[Entry]:
    """``count`` generations named ``<stem>-00001`` … (at least 5 digits, so names sort and stay stable)."""
    width = max(5, len(str(count)))
    return (Entry(None, f"{stem}-{i + 1:0{width}d}", i) for i in range(count))


def manifest(path: str) -> Iterator[tuple[str, str]]:
    """The entries of a manifest: one path or http(s) URL per line (relative paths from the manifest's
    folder); blank lines and lines starting with "#" are passed over. A missing file raises, naming the line."""
    folder = os.path.dirname(path)
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if is_url(line):
                    yield line, url_name(line)
                    continue
                source = os.path.join(folder, line)
                if not os.path.isfile(source):
                    raise FriendliInputError(f"@{path}", f"line {number}: {line!r} is not a file "
                                             f"(looked for {source!r}); fix or remove the line")
                yield source, os.path.basename(line)
    except (OSError, UnicodeDecodeError) as exc:
        raise FriendliInputError(f"@{path}", f"cannot read the manifest: {getattr(exc, 'strerror', None) or exc}") \
            from None


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def url_name(url: str) -> str:
    """The file name a URL's result is written under: its path's last part (``image`` if none)."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = name.replace("\\", "_").strip(". ")
    return name or "image"


def output_name(rel: str, suffix: str) -> str:
    """``rel`` with the result's suffix: ``a/b.jpg`` → ``a/b.png``."""
    path = PurePosixPath(rel)
    return str(path.with_name(path.stem + suffix)) if path.suffix.lower() in IMAGE_SUFFIXES else rel + suffix


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` → (K, N) with 1 ≤ K ≤ N (ValueError otherwise)."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError(f"{text!r} is not K/N (e.g. 2/8: the second of 8 shards)")
    k_, n_ = int(k), int(n)
    if n_ < 1 or not 1 <= k_ <= n_:
        raise ValueError(f"{text!r}: K must be from 1 to N (shards are numbered 1/{max(n_, 1)} … {max(n_, 1)}/{max(n_, 1)})")
    return k_, n_


def in_shard(rel: str, shard: tuple[int, int]) -> bool:
    """Whether the entry at ``rel`` belongs to shard K of N (by a stable hash of ``rel``)."""
    k, n = shard
    return n == 1 or _digest(rel) % n == k - 1


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


def plan(entries: Iterable[Entry], name: Callable[[Entry], str], shard: tuple[int, int]) -> tuple[int, int]:
    """Walk ``entries`` once before sending: raise FriendliInputError when two of them (of any shard)
    would write the same output ``name``, naming both; return how many belong to ``shard`` and how many
    there are in all. Holds 8 bytes per entry (a hash of its output name), not the names."""
    hashes, count = array("Q"), 0
    for entry in entries:
        out = name(entry)
        hashes.append(_digest(os.path.normcase(out)))
        count += in_shard(entry.rel, shard)
    values = np.frombuffer(hashes, dtype=np.uint64) if len(hashes) else np.zeros(0, np.uint64)
    ordered = np.sort(values)
    repeated = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
    if repeated:
        first: dict[str, Entry] = {}
        for entry in entries:  # again, to name them (a rare path)
            out = os.path.normcase(name(entry))
            if _digest(out) in repeated:
                if out in first:
                    raise FriendliInputError("INPUT", f"{first[out].label} and {entry.label} would both be written "
                                             f"to {name(entry)}; rename one, or run them with separate --out-dir")
                first[out] = entry
    return count, len(hashes)
