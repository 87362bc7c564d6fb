"""``crisis backup PATH`` and ``crisis restore PATH``: every key the product owns, in one file.

The file is JSON lines (gzip-compressed when PATH ends in ``.gz``), readable by any tool and
independent of the server's version (a DUMP payload is not: Redis 6.2 refuses Valkey's):

* line 1, the manifest: ``{"kind": "manifest", "format": "crisis-backup", "version": 1,
  "created", "server": {"name", "version"}, "prefix", "snapshot_ms", "keys", "types": {type: count},
  "stream_entries"}``;
* one ``{"kind": "key", "key", "type", "expire_at_ms", "value"}`` per key: a string, a hash (a
  dict), a set or a list (lists), a sorted set (``[member, score]`` pairs). A stream's value is
  ``{"last_id", "length", "groups": [...]}`` (with, on Redis 7 / Valkey, ``entries_added``,
  ``max_deleted_id``), followed by ``{"kind": "entries", "key", "entries": [[id, {field: value}],
  ...]}`` lines of up to ``CHUNK`` entries each, oldest first, ids kept. A consumer group keeps its
  last delivered id, its consumers and its pending entries (consumer, delivery count, idle time);
* the last line: ``{"kind": "end", "keys", "stream_entries"}``. A file without it was cut short
  and is refused.

Bytes that are not UTF-8 are kept exactly (surrogate escapes in the JSON strings).

Consistency (a running ``crisis serve`` keeps writing): the keys, their types, TTLs and whole
values, and each stream's last id, are read in ONE MULTI/EXEC transaction: a point-in-time
snapshot, no BGSAVE, no fork. A stream's entries are then read after that transaction in
chunks, up to the last id it had in the snapshot: every event is appended with its projection
writes in one transaction (``EventLog.append``), so the file's projections and logs agree. The
transaction blocks the server while it runs (tens of milliseconds for the hashes and sets of a
busy month; stream entries are not in it). An entry trimmed (MAXLEN) between the snapshot and its
chunk's read is missing from the file; the ``end`` line counts what was written.

Restore writes into an empty database (any key there is refused unless ``force``; with ``force``
the product's keys are deleted first, other keys are left alone), keeps stream ids, consumer
groups and pending entries, and sets each TTL to its absolute expiry (a key already expired is
skipped). The people picture's epoch key is not restored: running web processes see it gone and
reload their picture.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, cast

import redis

from crisis.adapters import keys

FORMAT = "crisis-backup"
VERSION = 1
CHUNK = 2000  # stream entries per line, and per XRANGE
_PIPELINE = 1000  # commands per restore round trip
_SNAPSHOT_ATTEMPTS = 10
_PAUSE_AFTER = 3  # attempts before writes are held (CLIENT PAUSE WRITE) for the snapshot
_PAUSE_MS = 5000  # the longest writes are held, even if this process dies meanwhile
_PENDING_MAX = 1_000_000
SKIPPED_ON_RESTORE = frozenset({keys.PICTURE_EPOCH})
TYPES = ("string", "hash", "set", "zset", "list", "stream")


class BackupError(Exception):
    """A backup cannot be written, or a file cannot be restored (the message says why)."""


# --- text <-> bytes: JSON holds any bytes as surrogate-escaped strings ------------------

def _s(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _b(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _dict(pairs: dict[bytes, bytes]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in pairs.items()}


# --- the snapshot ------------------------------------------------------------------------

@dataclass
class KeyShape:
    """What a key was when scanned: its type and, for a stream, its consumer groups."""

    type: str
    groups: tuple[str, ...] = ()


@dataclass
class Snapshot:
    time_ms: int
    records: list[dict[str, Any]]  # the "key" lines, in key order
    server: dict[str, str] = field(default_factory=dict)
    exec_s: float = 0.0  # how long the last MULTI/EXEC took, seen from here (the server's block, at most)


def _scan_shapes(client: redis.Redis, pattern: str) -> dict[str, KeyShape]:
    names = sorted({_s(k) for k in client.scan_iter(match=pattern, count=1000)})
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.type(name)
        types = [_s(t) for t in pipe.execute()]
    shapes = {n: KeyShape(t) for n, t in zip(names, types) if t != "none"}
    streams = [n for n, s in shapes.items() if s.type == "stream"]
    with client.pipeline(transaction=False) as pipe:
        for name in streams:
            pipe.xinfo_groups(name)
        for name, groups in zip(streams, pipe.execute(raise_on_error=False)):
            if isinstance(groups, list):
                shapes[name].groups = tuple(sorted(_s(g["name"]) for g in groups))
    return shapes


_READERS: dict[str, Callable[[Any, str], None]] = {
    "string": lambda pipe, key: pipe.get(key),
    "hash": lambda pipe, key: pipe.hgetall(key),
    "set": lambda pipe, key: pipe.smembers(key),
    "zset": lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True),
    "list": lambda pipe, key: pipe.lrange(key, 0, -1),
    "stream": lambda pipe, key: pipe.xinfo_stream(key),
}


def _queue_key(pipe: Any, key: str, shape: KeyShape) -> int:
    """Queue the reads of one key; how many replies they give."""
    if shape.type not in _READERS:
        raise BackupError(f"{key}: a {shape.type} key, which a backup cannot hold")
    pipe.type(key)
    pipe.pttl(key)
    _READERS[shape.type](pipe, key)
    if shape.type != "stream":
        return 3
    pipe.xinfo_groups(key)
    for group in shape.groups:
        pipe.xinfo_consumers(key, group)
        pipe.xpending_range(key, group, "-", "+", _PENDING_MAX)
    return 4 + 2 * len(shape.groups)


def _value(shape: KeyShape, read: Any) -> Any:
    if shape.type == "string":
        return _s(read)
    if shape.type == "hash":
        return _dict(read)
    if shape.type in ("set", "list"):
        return sorted(_s(m) for m in read) if shape.type == "set" else [_s(m) for m in read]
    if shape.type == "zset":
        return [[_s(m), float(score)] for m, score in read]
    raise AssertionError(shape.type)


def _stream_value(info: dict[str, Any], groups: list[dict[str, Any]], per_group: list[Any]) -> dict[str, Any]:
    value: dict[str, Any] = {"last_id": _s(info["last-generated-id"]), "length": int(info["length"])}
    if info.get("entries-added") is not None:
        value["entries_added"] = int(info["entries-added"])
    if info.get("max-deleted-entry-id") is not None:
        value["max_deleted_id"] = _s(info["max-deleted-entry-id"])
    out = []
    for i, group in enumerate(sorted(groups, key=lambda g: _s(g["name"]))):
        consumers, pending = per_group[2 * i], per_group[2 * i + 1]
        item: dict[str, Any] = {
            "name": _s(group["name"]),
            "last_delivered_id": _s(group["last-delivered-id"]),
            "consumers": sorted(_s(c["name"]) for c in consumers),
            "pending": [[_s(p["message_id"]), _s(p["consumer"]), int(p["times_delivered"]),
                         int(p["time_since_delivered"])] for p in pending],
        }
        if group.get("entries-read") is not None:
            item["entries_read"] = int(group["entries-read"])
        out.append(item)
    value["groups"] = out
    return value


def _changed(shapes: dict[str, KeyShape], present: set[str], replies: list[Any]) -> dict[str, KeyShape] | None:
    """The shapes to retry with when the keys changed between the scan and the MULTI, else None."""
    changed = present != set(shapes)
    at = 0
    new = {k: v for k, v in shapes.items() if k in present}
    for shape in shapes.values():
        count = 4 + 2 * len(shape.groups) if shape.type == "stream" else 3
        kind = _s(replies[at])
        if kind != shape.type:
            changed = True
        elif shape.type == "stream":
            groups = replies[at + 3]
            names = tuple(sorted(_s(g["name"]) for g in groups)) if isinstance(groups, list) else ()
            if names != shape.groups:
                changed = True
        at += count
    return new if changed else None


def snapshot(client: redis.Redis, pattern: str = f"{keys.PREFIX}:*") -> Snapshot:
    """Every key matching ``pattern`` with its value and TTL, read in one MULTI/EXEC.

    ``client`` must not decode responses (a backup keeps bytes). Streams carry their last id
    and groups; their entries are read afterwards (``stream_chunks``)."""
    shapes = _scan_shapes(client, pattern)
    paused = False
    try:
        for attempt in range(_SNAPSHOT_ATTEMPTS):
            if attempt == _PAUSE_AFTER and not paused:
                # Writes keep making keys between the scan and the snapshot (a busy server):
                # hold writes (reads go on) while the keys are scanned again and read, at most
                # _PAUSE_MS; writers wait, nothing is refused or lost.
                client.client_pause(_PAUSE_MS, all=False)  # CLIENT PAUSE ms WRITE
                paused = True
                shapes = _scan_shapes(client, pattern)
            found = _snapshot_once(client, pattern, shapes)
            if isinstance(found, Snapshot):
                return found
            shapes = found
    finally:
        if paused:
            client.client_unpause()
    raise BackupError(f"the keys kept changing type or groups during {_SNAPSHOT_ATTEMPTS} snapshot attempts")


def _snapshot_once(client: redis.Redis, pattern: str, shapes: dict[str, KeyShape]) -> Snapshot | dict[str, KeyShape]:
    """One MULTI/EXEC read of ``shapes``: the snapshot, or the keys' shapes to try again with."""
    with client.pipeline(transaction=True) as pipe:
        pipe.time()
        pipe.keys(pattern)
        for key, shape in shapes.items():
            _queue_key(pipe, key, shape)
        started = time.perf_counter()
        replies = pipe.execute(raise_on_error=False)
        exec_s = time.perf_counter() - started
    seconds, micros = replies[0]
    present = {_s(k) for k in replies[1]}
    retry = _changed(shapes, present, replies[2:])
    if retry is not None:  # a key came, went or changed type meanwhile: read again
        for key in present - set(retry):
            retry[key] = KeyShape("none")
        return _rescan(client, retry)
    return Snapshot(int(seconds) * 1000 + int(micros) // 1000,
                    _records(shapes, replies[2:], int(seconds) * 1000 + int(micros) // 1000),
                    _server(client), exec_s)


def _rescan(client: redis.Redis, shapes: dict[str, KeyShape]) -> dict[str, KeyShape]:
    names = sorted(shapes)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.type(name)
        types = [_s(t) for t in pipe.execute()]
    out = {n: KeyShape(t) for n, t in zip(names, types) if t != "none"}
    for name, shape in out.items():
        if shape.type == "stream":
            shape.groups = tuple(sorted(_s(g["name"]) for g in client.xinfo_groups(name)))
    return out


def _records(shapes: dict[str, KeyShape], replies: list[Any], now_ms: int) -> list[dict[str, Any]]:
    records = []
    at = 0
    for key, shape in shapes.items():
        count = 4 + 2 * len(shape.groups) if shape.type == "stream" else 3
        _, pttl, read, *rest = replies[at:at + count]
        at += count
        for reply in (pttl, read, *rest):
            if isinstance(reply, Exception):
                raise BackupError(f"{key}: {reply}")
        if shape.type == "stream":
            value = _stream_value(read, rest[0], rest[1:])
        else:
            value = _value(shape, read)
        expire = now_ms + int(pttl) if int(pttl) >= 0 else None
        records.append({"kind": "key", "key": key, "type": shape.type, "expire_at_ms": expire, "value": value})
    return records


def _server(client: redis.Redis) -> dict[str, str]:
    info = client.info("server")
    name = "valkey" if info.get("server_name") == "valkey" or "valkey_version" in info else "redis"
    return {"name": name, "version": str(info.get("valkey_version") or info.get("redis_version", ""))}


def stream_chunks(client: redis.Redis, key: str, last_id: str, chunk: int = CHUNK) -> Iterator[list[list[Any]]]:
    """A stream's entries up to ``last_id`` (the snapshot's), oldest first, in chunks."""
    start = "-"
    while True:
        found = cast("list[tuple[bytes, dict[bytes, bytes]]]", client.xrange(key, start, last_id, count=chunk))
        if not found:
            return
        yield [[_s(eid), _dict(fields)] for eid, fields in found]
        if len(found) < chunk:
            return
        start = "(" + _s(found[-1][0])


# --- files -------------------------------------------------------------------------------

def _open_write(path: Path, compress: bool) -> IO[str]:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # it holds password hashes
    if compress:
        return cast("IO[str]", gzip.open(path, "wt", encoding="utf-8", compresslevel=6))
    return open(path, "w", encoding="utf-8")


def _open_read(path: Path) -> IO[str]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return cast("IO[str]", gzip.open(path, "rt", encoding="utf-8"))
    return open(path, encoding="utf-8")


def _line(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n")


@dataclass
class Summary:
    keys: int
    stream_entries: int
    types: dict[str, int]
    server: dict[str, str]
    snapshot_ms: int

    def describe(self) -> str:
        kinds = ", ".join(f"{n} {t}" for t, n in sorted(self.types.items()))
        when = datetime.fromtimestamp(self.snapshot_ms / 1000, timezone.utc).isoformat(timespec="seconds")
        return (f"{self.keys} keys ({kinds or 'none'}), {self.stream_entries} stream entries; "
                f"snapshot of {self.server.get('name', '?')} {self.server.get('version', '?')} at {when}")


def write_backup(client: redis.Redis, path: Path, pattern: str = f"{keys.PREFIX}:*") -> Summary:
    """Write every key matching ``pattern`` to ``path`` (atomically: a partial file never
    has the final name). ``client`` must not decode responses."""
    snap = snapshot(client, pattern)
    types: dict[str, int] = {}
    for record in snap.records:
        types[record["type"]] = types.get(record["type"], 0) + 1
    partial = path.with_name(path.name + ".partial")
    entries = 0
    try:
        with _open_write(partial, compress=path.name.endswith(".gz")) as out:
            _line(out, {"kind": "manifest", "format": FORMAT, "version": VERSION,
                        "created": datetime.now(timezone.utc).isoformat(), "server": snap.server,
                        "pattern": pattern, "snapshot_ms": snap.time_ms, "keys": len(snap.records), "types": types,
                        "stream_entries": sum(r["value"]["length"] for r in snap.records if r["type"] == "stream")})
            for record in snap.records:
                _line(out, record)
                if record["type"] == "stream":
                    for chunk in stream_chunks(client, record["key"], record["value"]["last_id"]):
                        entries += len(chunk)
                        _line(out, {"kind": "entries", "key": record["key"], "entries": chunk})
            _line(out, {"kind": "end", "keys": len(snap.records), "stream_entries": entries})
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Summary(len(snap.records), entries, types, snap.server, snap.time_ms)


def read_backup(path: Path) -> Iterator[dict[str, Any]]:
    """The file's records after its manifest, checked: a wrong format, a broken line or a
    missing end line raises BackupError (the end line is yielded last)."""
    try:
        with _open_read(path) as lines:
            manifest = _parse(next(lines, ""), 1)
            if manifest.get("kind") != "manifest" or manifest.get("format") != FORMAT:
                raise BackupError(f"{path}: not a crisis backup (no manifest on line 1)")
            if manifest.get("version") != VERSION:
                raise BackupError(f"{path}: backup format version {manifest.get('version')}, this release reads {VERSION}")
            yield manifest
            ended = False
            for number, text in enumerate(lines, start=2):
                if ended:
                    raise BackupError(f"{path}: line {number} after the end line")
                record = _parse(text, number)
                ended = record.get("kind") == "end"
                yield record
            if not ended:
                raise BackupError(f"{path}: cut short (no end line): the backup is incomplete")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise BackupError(f"{path}: {exc}") from None


def _parse(text: str, number: int) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise BackupError(f"line {number}: not a backup record (a cut or damaged file?)")
    return record


# --- restore -------------------------------------------------------------------------------

def product_keys(client: redis.Redis, pattern: str = f"{keys.PREFIX}:*") -> list[bytes]:
    return list(client.scan_iter(match=pattern, count=1000))


def _server_major(client: redis.Redis) -> int:
    version = _server(client)["version"]
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


class _Writer:
    """Restore commands, sent in batches of non-transactional pipelines."""

    def __init__(self, client: redis.Redis) -> None:
        self.pipe = client.pipeline(transaction=False)
        self.queued = 0

    def __call__(self, *args: Any, **options: Any) -> None:
        self.pipe.execute_command(*args, **options)  # type: ignore[no-untyped-call]
        self.queued += 1
        if self.queued >= _PIPELINE:
            self.flush()

    def flush(self) -> None:
        if self.queued:
            self.pipe.execute()
            self.queued = 0


def _write_plain(write: _Writer, key: bytes, kind: str, value: Any) -> None:
    if kind == "string":
        write("SET", key, _b(value))
    elif kind == "hash":
        items = [_b(x) for pair in value.items() for x in pair]
        for i in range(0, len(items), 2 * _PIPELINE):
            write("HSET", key, *items[i:i + 2 * _PIPELINE])
    elif kind == "set":
        for i in range(0, len(value), _PIPELINE):
            write("SADD", key, *[_b(m) for m in value[i:i + _PIPELINE]])
    elif kind == "list":
        for i in range(0, len(value), _PIPELINE):
            write("RPUSH", key, *[_b(m) for m in value[i:i + _PIPELINE]])
    elif kind == "zset":
        for i in range(0, len(value), _PIPELINE):
            write("ZADD", key, *[x for member, score in value[i:i + _PIPELINE] for x in (repr(float(score)), _b(member))])
    else:
        raise BackupError(f"{_s(key)}: unknown type {kind!r}")


def _finish_stream(write: _Writer, key: bytes, value: dict[str, Any], written: int, modern: bool) -> None:
    """A stream's last id, groups and pending entries, once its entries are in."""
    last = value["last_id"]
    if written == 0 and last == "0-0":  # never had an entry (a group made it): make it so
        write("XGROUP", "CREATE", key, "crisis-backup-restore", "0", "MKSTREAM")
        write("XGROUP", "DESTROY", key, "crisis-backup-restore")
    elif written == 0:  # an empty stream keeps its last id: add one entry there, delete it
        write("XADD", key, last, "_", "_")
        write("XDEL", key, last)
    extra = []
    if modern and "entries_added" in value:
        extra = ["ENTRIESADDED", value["entries_added"], "MAXDELETEDID", value.get("max_deleted_id", "0-0")]
    if last != "0-0" or extra:
        write("XSETID", key, last, *extra)
    for group in value["groups"]:
        read = ["ENTRIESREAD", group["entries_read"]] if modern and "entries_read" in group else []
        write("XGROUP", "CREATE", key, _b(group["name"]), group["last_delivered_id"], *read)
        for consumer in group["consumers"]:
            write("XGROUP", "CREATECONSUMER", key, _b(group["name"]), _b(consumer))
        for entry_id, consumer, delivered, idle in group["pending"]:
            write("XCLAIM", key, _b(group["name"]), _b(consumer), 0, entry_id, "IDLE", idle,
                  "RETRYCOUNT", delivered, "FORCE", "JUSTID", parse_justid=True)


def restore_backup(client: redis.Redis, path: Path, force: bool = False,
                   pattern: str = f"{keys.PREFIX}:*") -> Summary:
    """Restore ``path`` into the database of ``client`` (bytes client). Refuses a non-empty
    database unless ``force`` (then the keys matching ``pattern`` are deleted first). The file
    is read twice: checked whole first, so a damaged file changes nothing."""
    manifest = _check_file(path)
    if not force and client.dbsize():
        raise BackupError(f"the database is not empty ({client.dbsize()} keys): restore refused; "
                          "--force replaces the product's keys with the backup's")
    if force:
        stale = product_keys(client, pattern)
        for i in range(0, len(stale), _PIPELINE):
            client.unlink(*stale[i:i + _PIPELINE])
    modern = _server_major(client) >= 7
    now_ms = int(time.time() * 1000)
    write = _Writer(client)
    types: dict[str, int] = {}
    entries = 0
    stream: tuple[bytes, dict[str, Any], int] | None = None
    expiries: list[tuple[bytes, int]] = []

    def close_stream() -> None:
        nonlocal stream
        if stream is not None:
            _finish_stream(write, *stream, modern)
            stream = None

    for record in read_backup(path):
        kind = record.get("kind")
        if kind == "entries":
            assert stream is not None and _b(record["key"]) == stream[0], "entries out of place"
            for entry_id, fields in record["entries"]:
                write("XADD", stream[0], entry_id, *[_b(x) for pair in fields.items() for x in pair])
            stream = (stream[0], stream[1], stream[2] + len(record["entries"]))
            entries += len(record["entries"])
            continue
        close_stream()
        if kind != "key" or record["key"] in SKIPPED_ON_RESTORE:
            continue
        expire = record.get("expire_at_ms")
        if expire is not None and expire <= now_ms:
            continue  # expired since the backup
        key = _b(record["key"])
        types[record["type"]] = types.get(record["type"], 0) + 1
        if record["type"] == "stream":
            stream = (key, record["value"], 0)
        else:
            _write_plain(write, key, record["type"], record["value"])
        if expire is not None:
            expiries.append((key, expire))
    close_stream()
    for key, expire in expiries:
        write("PEXPIREAT", key, expire)
    write.flush()
    return Summary(sum(types.values()), entries, types, manifest.get("server", {}), int(manifest.get("snapshot_ms", 0)))


def _check_file(path: Path) -> dict[str, Any]:
    """The manifest, once the whole file has been read and its counts agree."""
    manifest: dict[str, Any] = {}
    keys_seen = entries = 0
    for record in read_backup(path):
        kind = record.get("kind")
        if kind == "manifest":
            manifest = record
        elif kind == "key":
            if record.get("type") not in TYPES or not isinstance(record.get("key"), str):
                raise BackupError(f"{path}: a key record without a known type: {str(record)[:200]}")
            keys_seen += 1
        elif kind == "entries":
            entries += len(record.get("entries", []))
        elif kind == "end" and (record.get("keys"), record.get("stream_entries")) != (keys_seen, entries):
            raise BackupError(f"{path}: the end line counts {record.get('keys')} keys and "
                              f"{record.get('stream_entries')} entries, the file holds {keys_seen} and {entries}")
    return manifest
