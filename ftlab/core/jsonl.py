"""Reading and writing JSONL(.gz) files byte-for-byte reproducibly (gzip mtime 0, sorted keys), and JSON results
files that several processes add to at once."""

from __future__ import annotations

import gzip
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    """Write rows atomically; `.gz` paths are gzipped with a fixed mtime so rebuilds hash the same."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    count = 0
    for row in rows:
        buf.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    data = buf.getvalue().encode("utf-8")
    if path.suffix == ".gz":
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(data)
        data = out.getvalue()
    atomic_write_bytes(path, data)
    return count


def read_jsonl(path: Path) -> Iterator[dict]:
    """Yield rows; a malformed line (not UTF-8, not JSON, not an object) raises ValueError naming the file and
    line number. A UTF-8 byte-order mark at the start is allowed."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}: line {lineno}: not valid UTF-8 (byte {raw[err.start]:#04x} at column "
                                 f"{err.start + 1}); expected UTF-8 text, so re-save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {lineno}: not valid JSON ({err.msg}); "
                                 "expected one JSON object per line") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {lineno}: expected a JSON object, got {type(row).__name__}")
            yield row


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def exclusive(path: Path, wait_s: float = 600.0) -> Iterator[None]:
    """Hold `<path>.lock` while the block runs, so that processes sharing one results file (one per core, each
    running other jobs) read, merge and write it one at a time. The lock is a file created exclusively (works on
    every OS); a lock older than `wait_s` is taken to be left over from a killed process and removed."""
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            if time.monotonic() > deadline or time.time() - _mtime(lock) > wait_s:
                lock.unlink(missing_ok=True)
            time.sleep(0.05)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def update_json(path: Path, merge: Callable[[dict | None], dict]) -> dict:
    """Write `merge(what the file holds now, or None)` to `path` atomically, under `exclusive`: what another
    process saved since this one last read the file is merged, never overwritten. Returns what was written."""
    path = Path(path)
    with exclusive(path):
        current = json.loads(path.read_text()) if path.exists() else None
        record = merge(current)
        atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return record
