"""Files the tool writes: never over the database, the input, or someone else's file.

Every path the tool writes (rejects files, report outputs, templates, backups) goes through
:func:`check_output` and :func:`atomic`:

* :func:`check_output` refuses, with one sentence, a target that resolves (symbolic links and
  hard links included) to the database, its WAL or its build file, to an input being read, to
  a directory, to any DuckDB database, or to an existing file the tool did not write.
* The tool remembers what it wrote in a small manifest beside the files (``.portfolio-outputs``,
  one JSON object per line: name, kind, size, sha-256). An existing file is "ours" when the
  manifest knows it with the same kind and its content is still what was written; the next
  monthly run may then replace it. A file a person edited, or put there, is never replaced.
* :func:`atomic` writes to a hidden temporary file beside the target and renames it into place,
  so a crash or kill leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

MANIFEST = ".portfolio-outputs"
DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file
_CHUNK = 1 << 20


class UnsafeOutput(ValueError):
    """A target path the tool must not write; the message is one sentence for the user."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def database_files(db: Path) -> list[Path]:
    """The files that belong to a database: itself, its WAL and its build file."""
    return [db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".building"),
            db.with_name(db.name + ".building.wal")]


def is_duckdb_file(path: Path) -> bool:
    """True when ``path`` is a regular file whose header carries DuckDB's magic bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return len(head) >= 12 and head[8:12] == DUCKDB_MAGIC


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_path(target: Path) -> Path:
    return target.parent / MANIFEST


def _read_manifest(folder: Path) -> dict[str, dict[str, object]]:
    """The manifest of one folder: file name -> its last record (later lines win)."""
    entries: dict[str, dict[str, object]] = {}
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return entries
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("name"), str):
            entries[record["name"]] = record
    return entries


def written_by_tool(target: Path, kind: str) -> bool:
    """True when the manifest beside ``target`` records it, with this kind and its current content."""
    record = _read_manifest(target.parent).get(target.name)
    if record is None or record.get("kind") != kind:
        return False
    try:
        if target.stat().st_size != record.get("size"):
            return False
        return _sha256(target) == record.get("sha256")
    except OSError:
        return False


def _remember(target: Path, kind: str) -> None:
    """Record ``target`` in its folder's manifest (rewritten compactly, atomically)."""
    folder = target.parent
    entries = _read_manifest(folder)
    entries[target.name] = {"name": target.name, "kind": kind, "size": target.stat().st_size,
                            "sha256": _sha256(target)}
    keep = {name: rec for name, rec in entries.items() if (folder / name).exists()}
    body = "".join(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n" for rec in keep.values())
    tmp = folder / f".{MANIFEST}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(folder / MANIFEST)
    except OSError:
        tmp.unlink(missing_ok=True)  # a manifest that cannot be written only means "not ours" later


def check_output(
    target: str | Path,
    *,
    kind: str,
    db: str | Path | None = None,
    inputs: Iterable[str | Path] = (),
    replace_own: bool = True,
    legacy: Callable[[Path], bool] | None = None,
) -> Path:
    """Return ``target`` if the tool may write it, else raise :class:`UnsafeOutput`.

    ``kind`` names what is written (``rejects``, ``report``, ``template``, ``backup``…); an
    existing file may be replaced only when the tool wrote it as that kind and nobody changed
    it since (and ``replace_own``). ``db`` is the database in use and ``inputs`` the files
    being read: neither may be the target, whatever path or link leads to them. ``legacy``
    recognises a file written by an earlier version of the tool, before the manifest existed;
    it is asked only when the manifest does not know the file at all.
    """
    path = Path(target)
    shown = str(path)
    real = _real(path)
    if db is not None:
        db_path = Path(db)
        for protected in database_files(db_path) + database_files(_real(db_path)):
            if real == _real(protected) or _same_file(path, protected):
                raise UnsafeOutput(
                    f"不能写入 {shown}：这是数据库文件（或其日志），写入会毁掉数据库；请换一个文件名"
                    "（refusing to write over the database）。")
    for source in inputs:
        src = Path(source)
        if real == _real(src) or _same_file(path, src):
            raise UnsafeOutput(
                f"不能写入 {shown}：这是正在读取的文件，请换一个文件名（refusing to overwrite the input）。")
    if path.is_dir():
        raise UnsafeOutput(f"不能写入 {shown}：这是一个文件夹，请给出文件名（target is a directory）。")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise UnsafeOutput(f"不能写入 {shown}：它不是普通文件（not a regular file）。")
        if is_duckdb_file(path):
            raise UnsafeOutput(
                f"不能写入 {shown}：这是一个 DuckDB 数据库文件，请换一个文件名（refusing to overwrite a database）。")
        known = path.name in _read_manifest(path.parent)
        ours = written_by_tool(path, kind) or (not known and legacy is not None and legacy(path))
        if path.is_symlink() or not (replace_own and ours):
            raise UnsafeOutput(
                f"不能写入 {shown}：该文件已存在，且不是本工具写出的（或写出后被修改过）；请换一个文件名或先移走它"
                "（refusing to overwrite a file the tool did not write）。")
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Remove temporary files of ``path`` left by a writer that was killed (its process is gone)."""
    prefix = f".{path.name}."
    try:
        leftovers = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return
    for leftover in leftovers:
        pid_text = leftover.name[len(prefix):].split(".", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            with contextlib.suppress(OSError):
                leftover.unlink()


@contextmanager
def atomic(target: str | Path, *, kind: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed over it when the block succeeds.

    With ``kind`` the written file is recorded in the folder's manifest, so a later run may
    replace it (see :func:`check_output`). The temporary file is removed if the block fails.
    """
    path = Path(target)
    _remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        with contextlib.suppress(OSError), tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    if kind is not None:
        _remember(path, kind)


def write_output(
    target: str | Path,
    data: bytes | str,
    *,
    kind: str,
    db: str | Path | None = None,
    inputs: Iterable[str | Path] = (),
) -> Path:
    """Check ``target`` with :func:`check_output`, then write ``data`` to it atomically."""
    path = check_output(target, kind=kind, db=db, inputs=inputs)
    with atomic(path, kind=kind) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return path
