"""A folder of ``.vcf`` files, one contact per file (a vdir, as khard, vdirsyncer and Evolution keep
them), as a connector.

Record ids are file names, so two files that share a UID both sync (each gets a note). Changes
are found by comparing each file's (mtime, size) with the cursor, so an unchanged folder is listed
without reading a single file. Every write goes to a hidden temporary file that replaces the
target atomically, and a file we cannot read is never written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import gc
import os
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import ClassVar

from piesync_desktop.engine.connectors.base import AppInfo, Cursor
from piesync_desktop.engine.connectors.vcard_codec import (
    VCARD_SCHEMA,
    ParsedCard,
    VCardError,
    formatted_name,
    new_card,
    parse_card,
    update_card,
)
from piesync_desktop.engine.errors import ConnectorError
from piesync_desktop.engine.model import (
    AppSchema,
    Capabilities,
    Changes,
    NewRecord,
    ReadFailure,
    Record,
    RecordNote,
    RecordUpdate,
    WriteResult,
)

CURSOR_VERSION = 3
_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")
_TEMP_MARK = ".tmp-"
_O_BINARY = getattr(os, "O_BINARY", 0)
_SEPARATORS = re.compile("[" + re.escape(os.sep + (os.altsep or "") + "\0") + "]")
_STALE_TEMP_SECONDS = 3600

# What the cursor remembers of a file: "<mtime_ns>:<size>/u/<uid>" for a card, or
# "<mtime_ns>:<size>/f/<reason>" for a file that could not be read (reported again, without
# reading it, for as long as it is unchanged). Kept as one string, it costs next to nothing to
# save, load and compare.
Entry = str


class VCardDir:
    """One folder of vCard files."""

    app: ClassVar[AppInfo] = AppInfo(
        key="vcard",
        name="vCard folder",
        description="A folder of .vcf files, one contact per file (khard, vdirsyncer, Evolution).",
        capabilities=Capabilities(
            tags=True,
            tag_noun="category",
            deletions=True,
            unsubscribes=False,
            custom_fields=False,
            delta=False,
            batch_size=500,
        ),
    )

    def __init__(self, location: str) -> None:
        self._location = location
        self.path = Path(location).expanduser().absolute()
        self._dir = str(self.path)
        self._files: dict[str, Entry] = {}  # our view: the last listing plus our own writes
        self._seen: dict[str, tuple[int, int]] = {}  # (mtime_ns, size) of what we last read

    # ------------------------------------------------------------------ protocol

    @property
    def location(self) -> str:
        return self._location

    @property
    def account_key(self) -> str:
        return "vcard:" + str(self.path.resolve())

    def open(self) -> None:
        path = self.path
        if not path.exists():
            raise ConnectorError(
                f"vCard folder {path} does not exist: create it or pick another folder."
            )
        if not path.is_dir():
            raise ConnectorError(f"{path} is a file, not a folder: pick the folder that holds it.")
        if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
            raise ConnectorError(
                f"vCard folder {path} cannot be read and written by you: check its permissions."
            )

    def schema(self) -> AppSchema:
        return VCARD_SCHEMA

    def changes(self, cursor: Cursor | None) -> Changes:
        """Changed files are parsed as the caller consumes ``records``, one at a time."""
        with _collector_paused():
            known = _cursor_files(cursor)
            files, stale = self._scan(known)
        listed = files.keys() | {name for name, _ in stale}
        result = Changes(total=len(listed))
        result.deleted = sorted(name for name in known if name not in listed)
        for name, entry in files.items():
            uid, reason = _split_entry(entry)
            if uid is None:
                result.failures.append(ReadFailure(name, reason, name))
        self._files = files
        result.records = self._read_changed(stale, result)
        return result

    def _read_changed(
        self, stale: list[tuple[str, tuple[int, int]]], result: Changes
    ) -> Iterator[Record]:
        with _collector_paused():
            for name, stat in stale:
                outcome = self._read(name)
                self._files[name] = self._entry(name, outcome, stat)
                if isinstance(outcome, Record):
                    yield outcome
                else:
                    result.failures.append(outcome)
        result.notes = _uid_notes(self._files)

    def get(self, ids: Sequence[str]) -> list[Record | ReadFailure]:
        return [self._read(name) for name in ids]

    def create(self, records: Sequence[NewRecord]) -> list[WriteResult]:
        batch = _Batch()
        for new in records:
            self._prepare_create(new, batch)
        return self._commit(batch)

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        batch = _Batch()
        for update in updates:
            self._prepare_update(update, batch)
        return self._commit(batch)

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        results = []
        for name in ids:
            try:
                (self.path / _checked_name(name)).unlink()
            except FileNotFoundError:
                pass
            except (OSError, ValueError) as exc:
                results.append(WriteResult(key=name, id=name, error=f"Cannot delete: {exc}"))
                continue
            self._files.pop(name, None)
            self._seen.pop(name, None)
            results.append(WriteResult(key=name, id=name))
        self._sync_folder()
        return results

    def cursor(self) -> Cursor:
        return {"v": CURSOR_VERSION, "files": _encode_files(self._files)}

    # ------------------------------------------------------------------ reading

    def _scan(
        self, known: dict[str, Entry]
    ) -> tuple[dict[str, Entry], list[tuple[str, tuple[int, int]]]]:
        """The cursor entries of the unchanged files, and the new or changed files to read."""
        unchanged: dict[str, Entry] = {}
        stale: list[tuple[str, tuple[int, int]]] = []
        try:
            with os.scandir(self._dir) as entries:
                for entry in entries:
                    name = entry.name
                    if name[0] == ".":
                        if _TEMP_MARK in name:
                            _remove_if_stale(entry)
                        continue
                    if not (name.endswith(".vcf") or _is_vcf(name)):
                        continue
                    try:
                        stat = entry.stat()
                    except OSError:
                        continue  # removed while we listed
                    if not S_ISREG(stat.st_mode):
                        continue
                    old = known.get(name)
                    if old is not None and old.startswith(f"{stat.st_mtime_ns}:{stat.st_size}/"):
                        unchanged[name] = old
                    else:
                        stale.append((name, (stat.st_mtime_ns, stat.st_size)))
        except OSError as exc:
            raise ConnectorError(f"Cannot list vCard folder {self.path}: {exc.strerror}.") from exc
        return unchanged, stale

    def _read(self, name: str) -> Record | ReadFailure:
        """Read and parse one file now, remembering the version we saw."""
        try:
            data, stat = self._read_bytes(_checked_name(name))
        except FileNotFoundError:
            return ReadFailure(name, f"Cannot read {name}: the file was removed", name, gone=True)
        except (OSError, ValueError) as exc:
            return ReadFailure(name, f"Cannot read {name}: {_os_reason(exc)}", name)
        self._seen[name] = stat
        try:
            card = parse_card(_decode(data))
        except VCardError as exc:
            return ReadFailure(name, f"Cannot read {name}: {exc.reason}", name)
        return _record(name, card, stat)

    def _read_bytes(self, name: str) -> tuple[bytes, tuple[int, int]]:
        # os.open/os.read: a buffered file object costs more than reading a small card.
        fd = os.open(os.path.join(self._dir, name), os.O_RDONLY | _O_BINARY)  # noqa: PTH118
        try:
            stat = os.fstat(fd)
            data = os.read(fd, stat.st_size + 1)
            if len(data) != stat.st_size:  # a short read, or it grew meanwhile: read to the end
                chunks = [data]
                while chunk := os.read(fd, 1 << 16):
                    chunks.append(chunk)
                data = b"".join(chunks)
        finally:
            os.close(fd)
        return data, (stat.st_mtime_ns, stat.st_size)

    def _entry(self, name: str, outcome: Record | ReadFailure, stat: tuple[int, int]) -> Entry:
        mtime, size = self._seen.get(name, stat)
        if isinstance(outcome, Record):
            return f"{mtime}:{size}/u/{_no_nul(outcome.create_key or '')}"
        return f"{mtime}:{size}/f/{_no_nul(outcome.reason)}"

    # ------------------------------------------------------------------ writing

    def _prepare_create(self, new: NewRecord, batch: _Batch) -> None:
        text = new_card(new.create_key, new.fields, new.tags)
        base = _safe_stem(new.create_key)
        for attempt in range(100):
            name = f"{base}.vcf" if attempt == 0 else f"{base}-{attempt + 1}.vcf"
            if name in batch.names:
                continue
            if os.path.lexists(self.path / name):
                existing = self._read(name)
                if isinstance(existing, Record) and existing.create_key == new.create_key:
                    # A run that crashed after writing it: that file is the contact.
                    self._remember(name, existing)
                    batch.done(WriteResult(key=new.create_key, id=name, record=existing))
                    return
                continue  # someone else's file, readable or not: never touch it
            # The record is what we were asked to write (new_card writes exactly that), so
            # there is no need to parse the text again.
            fields = {**new.fields, "full_name": formatted_name(new.fields)}
            card = ParsedCard(fields, frozenset(new.tags), new.create_key, "3.0")
            self._stage(batch, _Pending(new.create_key, name, text, card, None))
            return
        batch.done(WriteResult(key=new.create_key, error=f"No free file name for {base}.vcf"))

    def _prepare_update(self, update: RecordUpdate, batch: _Batch) -> None:
        name = update.id
        try:
            data, stat = self._read_bytes(_checked_name(name))
        except FileNotFoundError:
            batch.done(WriteResult(key=name, id=name, error="file was removed"))
            return
        except (OSError, ValueError) as exc:
            batch.done(
                WriteResult(key=name, id=name, error=f"Cannot read {name}: {_os_reason(exc)}")
            )
            return
        expected = _parse_version(update.version) or self._seen.get(name)
        if expected is not None and expected != stat:
            batch.done(_conflict(name))
            return
        try:
            text = _decode(data)
            new_text = update_card(text, update.fields, update.add_tags, update.remove_tags)
            card = parse_card(new_text)
        except VCardError as exc:
            batch.done(WriteResult(key=name, id=name, error=f"Cannot read {name}: {exc.reason}"))
            return
        except ValueError as exc:  # a field this folder does not have
            batch.done(WriteResult(key=name, id=name, error=str(exc)))
            return
        if new_text == text:
            record = _record(name, card, stat)
            self._remember(name, record)
            batch.done(WriteResult(key=name, id=name, record=record))
            return
        self._stage(batch, _Pending(name, name, new_text, card, stat))

    def _stage(self, batch: _Batch, pending: _Pending) -> None:
        """Write the new content to a hidden temporary file, not yet durable nor in place."""
        target = self.path / pending.name
        pending.temp = self.path / f".{pending.name}{_TEMP_MARK}{secrets.token_hex(4)}"
        try:
            mode = 0o666 if pending.expected is None else target.stat().st_mode & 0o777
            fd = os.open(pending.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pending.text.encode())
        except OSError as exc:
            pending.temp.unlink(missing_ok=True)
            batch.done(
                WriteResult(
                    key=pending.key,
                    id=pending.expected and pending.name,
                    error=f"Cannot write {pending.name}: {exc.strerror or exc}",
                )
            )
            return
        batch.names.add(pending.name)
        batch.pending.append(pending)

    def _commit(self, batch: _Batch) -> list[WriteResult]:
        """Make every staged file durable at once, then move each into place.

        One flush of the file system per batch instead of one fsync per file: each rename still
        happens only after its content is on disk, so a crash leaves the old file or the new one.
        """
        if batch.pending:
            _flush_file_system(self.path)
        for pending in batch.pending:
            if pending.expected is not None and self._stat(pending.name) != pending.expected:
                pending.temp.unlink(missing_ok=True)
                batch.done(_conflict(pending.name))
                continue
            try:
                stat = self._place(pending)
            except FileExistsError:
                batch.done(
                    WriteResult(
                        key=pending.key, error=f"{pending.name} appeared meanwhile; retried later"
                    )
                )
                continue
            except OSError as exc:
                batch.done(
                    WriteResult(
                        key=pending.key, error=f"Cannot write {pending.name}: {exc.strerror or exc}"
                    )
                )
                continue
            finally:
                pending.temp.unlink(missing_ok=True)
            record = _record(pending.name, pending.card, (stat.st_mtime_ns, stat.st_size))
            self._remember(pending.name, record)
            batch.done(WriteResult(key=pending.key, id=pending.name, record=record))
        if batch.pending:
            self._sync_folder()
        return batch.results

    def _place(self, pending: _Pending) -> os.stat_result:
        """Move a durable staged file into place: the moment the write happens for others."""
        target = self.path / pending.name
        if pending.expected is None:
            _link_exclusive(pending.temp, target)
        else:
            pending.temp.replace(target)
        return target.stat()

    def _remember(self, name: str, record: Record) -> None:
        stat = _parse_version(record.version)
        if stat is not None:
            self._seen[name] = stat
            self._files[name] = f"{stat[0]}:{stat[1]}/u/{_no_nul(record.create_key or '')}"

    def _stat(self, name: str) -> tuple[int, int] | None:
        try:
            stat = (self.path / name).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _sync_folder(self) -> None:
        """Make the renames of this batch durable (where the platform allows it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


# ---------------------------------------------------------------------- helpers


@dataclass(slots=True)
class _Pending:
    """One file of a batch, staged in a temporary file until the batch is made durable."""

    key: str  # the create key, or the file name of an update
    name: str
    text: str
    card: ParsedCard
    expected: tuple[int, int] | None  # an update: the (mtime, size) the file had when read
    temp: Path = Path()


@dataclass(slots=True)
class _Batch:
    """The results and staged files of one create or update call."""

    results: list[WriteResult] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def done(self, result: WriteResult) -> None:
        self.results.append(result)


def _flush_file_system(folder: Path) -> None:
    """Flush the file system holding ``folder`` (syncfs on Linux, a full sync elsewhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        os.sync()
        return
    try:
        if _LIBC is not None and _LIBC.syncfs(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "syncfs") else None


_LIBC = _load_libc()


def _cursor_files(cursor: Cursor | None) -> dict[str, Entry]:
    if not isinstance(cursor, dict) or cursor.get("v") != CURSOR_VERSION:
        return {}
    files = cursor.get("files")
    try:
        return _decode_files(files) if isinstance(files, str) else {}
    except ValueError:
        return {}  # not ours: a full listing it is


# A cursor holds "<file name>/<entry>" per file, joined by NUL: neither "/" nor NUL can be part
# of a file name, and one long string is many times faster to save and load than JSON lists.


def _encode_files(files: dict[str, Entry]) -> str:
    return "\0".join(f"{name}/{entry}" for name, entry in files.items())


def _decode_files(text: str) -> dict[str, Entry]:
    files = dict(item.split("/", 1) for item in text.split("\0")) if text else {}
    for entry in files.values():
        if entry.count("/") < 2:
            raise ValueError("not a cursor of this connector")
    return files


def _split_entry(entry: Entry) -> tuple[str | None, str]:
    """(the card's UID, '') for a card; (None, the reason) for a file that cannot be read."""
    _version, kind, rest = entry.split("/", 2)
    return (rest, "") if kind == "u" else (None, rest or "Cannot read this file")


def _no_nul(text: str) -> str:
    return text.replace("\0", "")


def _record(name: str, card: ParsedCard, stat: tuple[int, int]) -> Record:
    return Record(
        id=name,
        fields=card.fields,
        tags=card.tags,
        version=f"{stat[0]}:{stat[1]}",
        create_key=card.uid or None,
    )


def _conflict(name: str) -> WriteResult:
    return WriteResult(key=name, id=name, conflict=True, error="changed since it was read")


def _parse_version(version: str | None) -> tuple[int, int] | None:
    if not version:
        return None
    mtime, _, size = version.partition(":")
    try:
        return int(mtime), int(size)
    except ValueError:
        return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VCardError(f"not UTF-8 text (byte {exc.start + 1})") from None


def _os_reason(exc: OSError | ValueError) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


def _checked_name(name: str) -> str:
    """A record id as a plain file name of this folder (never a path elsewhere)."""
    if not name or name in (".", "..") or _SEPARATORS.search(name):
        raise ValueError(f"{name!r} is not a file name")
    return name


def _is_vcf(name: str) -> bool:
    return name.lower().endswith(".vcf")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many records are built.

    Records hold no reference cycles, but each one adds objects the collector walks again and
    again as the heap grows: on 100,000 cards that costs more than reading them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _remove_if_stale(entry: os.DirEntry[str]) -> None:
    """A temporary file a crashed run left behind (we never read them) goes after an hour."""
    try:
        if entry.stat().st_mtime < time.time() - _STALE_TEMP_SECONDS:
            Path(entry.path).unlink()
    except OSError:
        pass


def _safe_stem(key: str) -> str:
    stem = _UNSAFE.sub("_", key)[:120].lstrip(".")
    return stem or secrets.token_hex(8)


def _link_exclusive(temp: Path, target: Path) -> None:
    """Give ``temp`` the name ``target`` unless ``target`` exists (FileExistsError then)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if target.exists():  # a file system without hard links: close the window as we can
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
        temp.replace(target)


def _uid_notes(files: dict[str, Entry]) -> list[RecordNote]:
    first: dict[str, str] = {}
    shared: dict[str, list[str]] = {}
    for name, entry in files.items():
        uid, _ = _split_entry(entry)
        if uid:
            other = first.setdefault(uid, name)
            if other is not name:
                shared.setdefault(uid, [other]).append(name)
    notes = []
    for uid, names in shared.items():
        names.sort()
        for name in names:
            other = names[1] if name == names[0] else names[0]
            notes.append(RecordNote(name, f"UID {uid} is also used by {other}"))
    return notes
