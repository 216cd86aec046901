"""The audit log as C2SP tlog-tiles: checkpoint, hash tiles and entry bundles.

Paths (c2sp.org/tlog-tiles): ``checkpoint``; ``tile/<L>/<N>`` for the hash tile at level
L, index N (the hashes of 256 consecutive tree nodes at height 8 L); ``tile/entries/<N>``
for the bundle of entries 256 N + 1 .. 256 N + 256 (each entry as a big-endian uint16
length and its canonical bytes). A tile that is not full yet is ``<path>.p/<W>`` with
its width W (1..255). N is written in groups of three digits, every group but the last
with an ``x`` in front: 1234067 is ``x001/x234/067``.

Tiles are served up to the size of the newest stored checkpoint, so every one of them
is consistent with the checkpoint a reader fetched. Hashes come from the in-memory tree.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidArgument

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
_INDEX = re.compile(r"(?:x[0-9]{3}/)*[0-9]{3}")
_MAX_LEVEL = 7  # 8 levels of 8 cover 2**64 leaves


@dataclass(frozen=True)
class Tile:
    """A parsed tile path; ``level`` is None for an entry bundle."""

    level: int | None
    index: int
    width: int

    @property
    def path(self) -> str:
        """The path this tile is served at."""
        where = "entries" if self.level is None else str(self.level)
        tail = "" if self.width == TILE_WIDTH else f".p/{self.width}"
        return f"tile/{where}/{encode_index(self.index)}{tail}"


def encode_index(n: int) -> str:
    """N as tlog-tiles path elements: 1234067 -> x001/x234/067."""
    digits = f"{n:d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def parse_tile(path: str) -> Tile:
    """A tile path's level, index and width; raises InvalidArgument if malformed."""
    parts = path.split("/", 2)
    if len(parts) != 3 or parts[0] != "tile":
        raise InvalidArgument("not a tile path")
    kind, rest = parts[1], parts[2]
    width = TILE_WIDTH
    if ".p/" in rest:
        rest, _, w = rest.partition(".p/")
        if not w.isdigit() or w != str(int(w)) or not 1 <= int(w) < TILE_WIDTH:
            raise InvalidArgument("a partial tile's width must be 1..255")
        width = int(w)
    if not _INDEX.fullmatch(rest):
        raise InvalidArgument("a tile index is groups of three digits, x before all but the last")
    index = int(rest.replace("x", "").replace("/", ""))
    if encode_index(index) != rest:
        raise InvalidArgument("a tile index has no superfluous leading groups")
    if kind == "entries":
        return Tile(None, index, width)
    if not kind.isdigit() or kind != str(int(kind)) or int(kind) > _MAX_LEVEL:
        raise InvalidArgument("a hash tile level is 0..7")
    return Tile(int(kind), index, width)


def tile_nodes(tile: Tile, size: int) -> Iterator[tuple[int, int]]:
    """The leaf ranges [start, end) whose subtree hashes form a hash tile of this size.

    Raises InvalidArgument when the tile reaches beyond the tree of ``size`` leaves.
    """
    assert tile.level is not None
    height = TILE_HEIGHT * tile.level
    first = tile.index * TILE_WIDTH
    if (first + tile.width) << height > size:
        raise InvalidArgument("the tile reaches beyond the newest checkpoint")
    for i in range(first, first + tile.width):
        yield i << height, (i + 1) << height


def entry_seqs(tile: Tile, size: int) -> tuple[int, int]:
    """The first and last seq of an entry bundle; raises InvalidArgument beyond ``size``."""
    first = tile.index * TILE_WIDTH + 1
    last = first + tile.width - 1
    if last > size:
        raise InvalidArgument("the bundle reaches beyond the newest checkpoint")
    return first, last


def bundle(entries: list[bytes]) -> bytes:
    """Entries as a tlog-tiles entry bundle (uint16 big-endian length before each)."""
    out = bytearray()
    for data in entries:
        if len(data) > 0xFFFF:
            raise InvalidArgument("an entry is too long for an entry bundle")
        out += struct.pack(">H", len(data)) + data
    return bytes(out)


def unbundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle; raises InvalidArgument if it is malformed."""
    out, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise InvalidArgument("entry bundle is cut inside a length")
        (n,) = struct.unpack_from(">H", data, at)
        at += 2
        if at + n > len(data):
            raise InvalidArgument("entry bundle is cut inside an entry")
        out.append(bytes(data[at:at + n]))
        at += n
    return out



def read_tile(path: str, log: Any, evidence: Any) -> bytes:
    """The bytes served at a tlog-tiles path; raises InvalidArgument for a bad path.

    ``log`` is a ``SharedAuditLog``, ``evidence`` its ``SharedEvidence``.
    """
    latest = evidence.store.latest()
    if latest is None:
        raise InvalidArgument("the log has no checkpoint yet")
    if path == "checkpoint":
        return str(latest.note).encode("utf-8")
    tile = parse_tile(path)
    size = int(latest.size)
    if tile.level is None:
        first, last = entry_seqs(tile, size)
        rows = log.read_raw(start=first, limit=last - first + 1)
        return bundle([data for _, data in rows])
    tree = evidence.tree
    if tree.synced_size() < size:
        tree.sync()
    return b"".join(tree.subtree_hash(a, b) for a, b in tile_nodes(tile, size))
