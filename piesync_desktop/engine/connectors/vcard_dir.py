"""A folder of ``.vcf`` files, one contact per file (a vdir, as khard, vdirsyncer and Evolution keep
them), as a connector.

Record ids are file names, so two files that share a UID both sync (each gets a note). Changes
are found by comparing each file's (mtime, size) with the cursor, so an unchanged folder is listed
without reading a single file. Every write goes to a hidden temporary file that replaces the
target atomically, and a file we cannot read is never written.

A folder of 100,000 cards costs 100,000 ``stat`` calls on every run, so the listing does as little
as it can per file: one stat, one formatted version string, one dict entry; the comparison with
the cursor, the deletions, the failures and the shared UIDs are worked out with set operations and
small tables instead of per-file Python.
"""

# The files are handled as strings with os functions: a run may touch 100,000 of them, and a
# pathlib object costs more than the system call it makes.
# ruff: noqa: PTH105, PTH108, PTH110, PTH116, PTH118

from __future__ import annotations

import errno
import gc
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, count
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any, ClassVar

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

if TYPE_CHECKING:
    import subprocess

CURSOR_VERSION = 4
_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")
_TEMP_MARK = ".tmp-"
_O_BINARY = getattr(os, "O_BINARY", 0)
_SEPARATORS = re.compile("[" + re.escape(os.sep + (os.altsep or "") + "\0") + "]")
_STALE_TEMP_SECONDS = 3600

# What the folder knows of its files, kept as three tables (and saved as the cursor):
# - versions: every listed file, "<mtime_ns>:<size>" as we last read or wrote it;
# - uids: the UID of each card whose file is not named "<UID>.vcf" (most are, and need no entry);
# - failed: why each file that could not be read could not (reported again, without reading it,
#   for as long as it is unchanged).
# In the cursor, the versions are one string "name/version/name/version/...": neither part can
# hold a "/", and one string is many times faster to save, load and compare than JSON lists.
Version = str
Tables = tuple[dict[str, Version], dict[str, str], dict[str, str]]  # versions, uids, failed

# Listing a folder is one stat call per file with a little Python work between them, so two
# listings in two threads of one process mostly trade the interpreter lock back and forth
# (measured: no faster than one after the other). One folder at a time is listed in-process; a
# big folder listed meanwhile (the other side of the same run) is listed by a helper process,
# on another core. Both run the same code, LIST_SOURCE.
_LISTING = threading.Lock()
_HELPER_MIN_FILES = 20_000  # below this, starting a process costs more than it saves

LIST_SOURCE = '''
def list_folder(folder):
    """(version by name of each regular file named *.vcf, the other names) in a folder."""
    import os
    from stat import S_ISREG

    listed = {}
    others = []
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name[-4:] != ".vcf" or name[0] == ".":
                others.append(name)
                continue
            try:
                stat = entry.stat()
            except OSError:
                continue  # removed while we listed
            if S_ISREG(stat.st_mode):
                listed[name] = f"{stat.st_mtime_ns}:{stat.st_size}"
    return listed, others
'''
# The helper reads the cursor's versions ("name/version/name/version/...") on its input and
# prints what differs: "name/version/..." listed but not in the cursor, a NUL, the names the
# cursor has that are not listed ("name/name/..."), a NUL, then the other names of the folder.
# Neither a file name nor a version holds "/" or NUL; "surrogatepass" carries any name through.
_HELPER_MAIN = """
import sys
from itertools import chain

listed, others = list_folder(sys.argv[1])
text = sys.stdin.buffer.read().decode("utf-8", "surrogatepass")
parts = text.split("/") if text else []
known = dict(zip(parts[::2], parts[1::2]))
changed = "/".join(chain.from_iterable(listed.items() - known.items()))
deleted = "/".join(known.keys() - listed.keys())
text = changed + "\\0" + deleted + "\\0" + "/".join(others)
sys.stdout.buffer.write(text.encode("utf-8", "surrogatepass"))
"""
_namespace: dict[str, Any] = {}
exec(compile(LIST_SOURCE, "<vcard folder listing>", "exec"), _namespace)
_list_folder: Callable[[str], tuple[dict[str, str], list[str]]] = _namespace["list_folder"]


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
            batch_size=1000,
        ),
    )

    def __init__(self, location: str) -> None:
        self._location = location
        self.path = Path(location).expanduser().absolute()
        self._dir = str(self.path)
        # Our view of the folder: the last listing plus our own writes (see Version above).
        self._versions: dict[str, Version] = {}
        self._uids: dict[str, str] = {}
        self._failed: dict[str, str] = {}
        self._seen: dict[str, tuple[int, int]] = {}  # (mtime_ns, size) of what we last read
        self._unparsed: set[str] = set()  # files whose last read could not be parsed
        self._releasers: list[threading.Thread] = []
        self._given: Cursor | None = None  # the cursor ``changes`` had, while it is still true

    # ------------------------------------------------------------------ protocol

    @property
    def location(self) -> str:
        return self._location

    @property
    def account_key(self) -> str:
        return "vcard:" + str(self.path.resolve())

    def open(self, cursor: Cursor | None = None) -> None:
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
            listing = self._list(cursor)
        _known, known_uids, known_failed = listing.tables
        listed = listing.versions
        stale = sorted(listing.changed)
        result = Changes(total=len(listed))
        result.deleted = sorted(listing.deleted)
        for name, _version in stale:
            del listed[name]  # read below, and entered again then
        self._versions = listed
        self._uids = {name: uid for name, uid in known_uids.items() if name in listed}
        self._failed = {name: why for name, why in known_failed.items() if name in listed}
        result.failures = [
            ReadFailure(name, why or "Cannot read this file", name)
            for name, why in self._failed.items()
        ]
        result.records = self._read_changed(stale, result)
        # Nothing changed: the cursor we were given stays ours, whatever order the files were
        # listed in this time (saving an equal cursor again would cost a run its largest write).
        unchanged = not stale and not result.deleted and _is_current(cursor)
        self._given = cursor if unchanged else None
        return result

    def _read_changed(self, stale: list[tuple[str, Version]], result: Changes) -> Iterator[Record]:
        with _collector_paused():
            for name, listed_version in stale:
                outcome = self._read(name)
                self._enter(name, outcome, listed_version)
                if isinstance(outcome, Record):
                    yield outcome
                else:
                    result.failures.append(outcome)
        result.notes = _uid_notes(self._versions, self._uids, self._failed)

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
            self._forget(name)
            results.append(WriteResult(key=name, id=name))
        self._sync_folder()
        return results

    def cursor(self) -> Cursor:
        if self._given is not None:
            return self._given
        return {
            "v": CURSOR_VERSION,
            "files": _joined(self._versions),
            "uids": dict(self._uids),
            "failed": dict(self._failed),
        }

    # ------------------------------------------------------------------ reading

    def _list(self, cursor: Cursor | None) -> _Listing:
        """What the folder holds now, against what ``cursor`` says it held."""
        listing = self._list_names(cursor)
        known = listing.tables[0]
        for name in listing.others:
            path = self._file(name)
            if name[0] == ".":
                if _TEMP_MARK in name:
                    _remove_if_stale(path)
                continue
            if not _is_vcf(name):
                continue
            try:
                stat = os.stat(path)
            except OSError:
                continue
            if S_ISREG(stat.st_mode):
                version = listing.versions[name] = f"{stat.st_mtime_ns}:{stat.st_size}"
                if known.get(name) != version:
                    listing.changed.add((name, version))
                listing.deleted.discard(name)
        return listing

    def _list_names(self, cursor: Cursor | None) -> _Listing:
        if _LISTING.acquire(blocking=False):
            try:
                listed, others = self._list_here()
            finally:
                _LISTING.release()
            return _Listing.compared(listed, others, _cursor_tables(cursor))
        helper = _start_helper(self._dir) if _cursor_size(cursor) >= _HELPER_MIN_FILES else None
        tables = _cursor_tables(cursor)  # while the helper lists
        if helper is not None:
            files = cursor["files"] if _is_current(cursor) else _joined(tables[0])
            found = _helper_result(helper, files)
            if found is not None:
                changed, deleted, others = found
                versions = dict(tables[0])
                for name in deleted:
                    del versions[name]
                versions.update(changed)
                return _Listing(versions, set(changed), set(deleted), others, tables)
        with _LISTING:  # wait for the listing in progress
            listed, others = self._list_here()
        return _Listing.compared(listed, others, tables)

    def _list_here(self) -> tuple[dict[str, Version], list[str]]:
        try:
            return _list_folder(self._dir)
        except OSError as exc:
            raise ConnectorError(f"Cannot list vCard folder {self.path}: {exc.strerror}.") from exc

    def _read(self, name: str) -> Record | ReadFailure:
        """Read and parse one file now, remembering the version we saw."""
        try:
            data, info = self._read_bytes(_checked_name(name))
        except FileNotFoundError:
            return ReadFailure(name, f"Cannot read {name}: the file was removed", name, gone=True)
        except (OSError, ValueError) as exc:
            return ReadFailure(name, f"Cannot read {name}: {_os_reason(exc)}", name)
        stat = self._seen[name] = (info.st_mtime_ns, info.st_size)
        try:
            card = parse_card(_decode(data))
        except VCardError as exc:
            self._unparsed.add(name)
            return ReadFailure(name, f"Cannot read {name}: {exc.reason}", name)
        self._unparsed.discard(name)
        return _record(name, card, stat)

    def _read_bytes(self, name: str) -> tuple[bytes, os.stat_result]:
        # os.open/os.read: a buffered file object costs more than reading a small card.
        fd = os.open(self._file(name), os.O_RDONLY | _O_BINARY)
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
        return data, stat

    def _enter(self, name: str, outcome: Record | ReadFailure, listed: Version) -> None:
        """Remember a file as we just read it (or as listed, if it could not even be opened)."""
        seen = self._seen.get(name)
        version = listed if seen is None else f"{seen[0]}:{seen[1]}"
        if isinstance(outcome, Record):
            self._enter_card(name, version, outcome.create_key or "")
        else:
            self._given = None
            self._versions[name] = version
            self._uids.pop(name, None)
            self._failed[name] = outcome.reason

    def _enter_card(self, name: str, version: Version, uid: str) -> None:
        self._given = None
        self._versions[name] = version
        self._failed.pop(name, None)
        if name == uid + ".vcf":
            self._uids.pop(name, None)
        else:
            self._uids[name] = uid

    def _forget(self, name: str) -> None:
        self._given = None
        for table in (self._versions, self._uids, self._failed, self._seen):
            table.pop(name, None)
        self._unparsed.discard(name)

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
            self._stage(batch, _Pending(new.create_key, name, text, card, None, 0o666))
            return
        batch.done(WriteResult(key=new.create_key, error=f"No free file name for {base}.vcf"))

    def _prepare_update(self, update: RecordUpdate, batch: _Batch) -> None:
        name = update.id
        try:
            data, info = self._read_bytes(_checked_name(name))
        except FileNotFoundError:
            batch.done(WriteResult(key=name, id=name, error="file was removed"))
            return
        except (OSError, ValueError) as exc:
            batch.done(
                WriteResult(key=name, id=name, error=f"Cannot read {name}: {_os_reason(exc)}")
            )
            return
        stat = (info.st_mtime_ns, info.st_size)
        expected = _parse_version(update.version) or self._seen.get(name)
        if expected is not None and expected != stat:
            batch.done(_conflict(name))
            return
        # The text of a version we read (or wrote) ourselves is known to parse: not again.
        readable = self._seen.get(name) == stat and name not in self._unparsed
        try:
            text = _decode(data)
            new_text = update_card(
                text, update.fields, update.add_tags, update.remove_tags, readable=readable
            )
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
        self._stage(batch, _Pending(name, name, new_text, card, stat, info.st_mode & 0o777))

    def _stage(self, batch: _Batch, pending: _Pending) -> None:
        """Write the new content to a hidden temporary file, not yet durable nor in place."""
        pending.temp = self._file(_hidden_name(pending.name))
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY
            fd = os.open(pending.temp, flags, pending.mode)
            try:
                data = memoryview(pending.text.encode())
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
        except OSError as exc:
            _discard(pending.temp)
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
                _discard(pending.temp)
                batch.done(_conflict(pending.name))
                continue
            try:
                stat = self._place(pending, batch)
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
            record = _record(pending.name, pending.card, (stat.st_mtime_ns, stat.st_size))
            self._remember(pending.name, record)
            batch.done(WriteResult(key=pending.key, id=pending.name, record=record))
        if batch.pending:
            self._sync_folder()
        if batch.replaced:
            self._release_later(batch.replaced)
        return batch.results

    def _place(self, pending: _Pending, batch: _Batch) -> os.stat_result:
        """Move a durable staged file into place: the moment the write happens for others."""
        target = self._file(pending.name)
        if pending.expected is None:
            try:
                _link_exclusive(pending.temp, target)
            finally:
                _discard(pending.temp)
            return os.stat(target)
        old = self._second_name(pending.name)
        try:
            os.replace(pending.temp, target)
        except BaseException:
            _discard(pending.temp)
            if old is not None:
                _discard(old)
            raise
        if old is not None:
            batch.replaced.append(old)
        return os.stat(target)

    def _second_name(self, name: str) -> str | None:
        """Give the file ``name`` a hidden second name, so that replacing it does not free it on
        the spot; None where hard links are not possible (then it is freed at once).

        A crash leaves the second name behind as a temporary file, removed by a later listing.
        """
        second = self._file(_hidden_name(name))
        try:
            os.link(self._file(name), second)
        except (OSError, NotImplementedError):
            return None
        return second

    def _file(self, name: str) -> str:
        return os.path.join(self._dir, name)

    def _release_later(self, paths: list[str]) -> None:
        """Remove the replaced files on a thread of their own, while the run goes on.

        Freeing a file's blocks costs the file system about ten times what the rename did
        (0.25 ms against 0.02 ms here): done inline, it was a quarter of a 1% edits run.
        """
        releaser = threading.Thread(target=_unlink_all, args=(paths,), name="vcard-release")
        releaser.start()
        self._releasers.append(releaser)

    def settle(self) -> None:
        """Wait until the files our updates replaced are removed.

        No one needs to: the threads end on their own, and a process waits for them before it
        exits. The files are hidden meanwhile, and a crash leaves them to a later listing.
        """
        for releaser in self._releasers:
            releaser.join()
        self._releasers.clear()

    def _remember(self, name: str, record: Record) -> None:
        stat = _parse_version(record.version)
        if stat is not None:
            self._seen[name] = stat
            self._unparsed.discard(name)  # we wrote it (or found it so): it parses
            self._enter_card(name, f"{stat[0]}:{stat[1]}", record.create_key or "")

    def _stat(self, name: str) -> tuple[int, int] | None:
        try:
            stat = os.stat(self._file(name))
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
class _Listing:
    """A folder as listed now, against the tables of the cursor it was listed with."""

    versions: dict[str, Version]  # every file listed
    changed: set[tuple[str, Version]]  # (name, version) of the new and changed files
    deleted: set[str]  # files of the cursor that are gone
    others: list[str]  # names that are not "*.vcf" or are hidden, looked at one by one
    tables: Tables

    @classmethod
    def compared(cls, listed: dict[str, Version], others: list[str], tables: Tables) -> _Listing:
        # Set operations on (name, version) pairs: no Python code runs per unchanged file.
        known = tables[0]
        return cls(
            listed, listed.items() - known.items(), known.keys() - listed.keys(), others, tables
        )


@dataclass(slots=True)
class _Pending:
    """One file of a batch, staged in a temporary file until the batch is made durable."""

    key: str  # the create key, or the file name of an update
    name: str
    text: str
    card: ParsedCard
    expected: tuple[int, int] | None  # an update: the (mtime, size) the file had when read
    mode: int  # permissions of the new file (an update keeps those of the file it replaces)
    temp: str = ""


@dataclass(slots=True)
class _Batch:
    """The results and staged files of one create or update call."""

    results: list[WriteResult] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    replaced: list[str] = field(default_factory=list)  # second names of the files replaced

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
        syncfs = _syncfs()
        if syncfs is not None and syncfs(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


@cache
def _syncfs() -> Callable[[int], int] | None:
    """The C library's ``syncfs``, where there is one; looked up on the first write only (ctypes
    and its library search would cost every run, writing or not, a few hundredths of a second).
    """
    import ctypes
    import ctypes.util

    for name in (None, ctypes.util.find_library("c")):  # None: the libraries already loaded
        try:
            libc = ctypes.CDLL(name, use_errno=True)
        except (OSError, TypeError):
            continue
        if hasattr(libc, "syncfs"):
            return libc.syncfs
    return None


def _cursor_tables(cursor: Cursor | None) -> Tables:
    """The versions, UIDs and failures a cursor holds; empty tables when it is not ours."""
    if not isinstance(cursor, dict):
        return {}, {}, {}
    try:
        if cursor.get("v") == CURSOR_VERSION:
            return _decode_tables(cursor)
        if cursor.get("v") == 3 and isinstance(cursor.get("files"), str):
            return _decode_v3(cursor["files"])
    except ValueError:
        pass
    return {}, {}, {}  # not ours: a full listing it is


def _cursor_size(cursor: Cursor | None) -> int:
    """About how many files a cursor knows, without decoding it."""
    files = cursor.get("files") if isinstance(cursor, dict) else None
    if not isinstance(files, str) or not files:
        return 0
    return files.count("/") // 2 if _is_current(cursor) else files.count("\0") + 1


def _is_current(cursor: Cursor | None) -> bool:
    return isinstance(cursor, dict) and cursor.get("v") == CURSOR_VERSION


def _decode_tables(cursor: dict[str, Any]) -> Tables:
    files, uids, failed = cursor.get("files"), cursor.get("uids"), cursor.get("failed")
    if not isinstance(files, str) or not isinstance(uids, dict) or not isinstance(failed, dict):
        raise ValueError("not a cursor of this connector")
    parts = files.split("/") if files else []
    if len(parts) % 2:
        raise ValueError("not a cursor of this connector")
    for table in (uids, failed):
        if not all(isinstance(value, str) for value in table.values()):
            raise ValueError("not a cursor of this connector")
    return dict(zip(parts[::2], parts[1::2], strict=True)), uids, failed


def _decode_v3(text: str) -> Tables:
    """A cursor of the previous version: "<name>/<version>/u/<uid>" or ".../f/<reason>", joined
    by NUL. Read once after an upgrade, so that it does not cost a full read of the folder."""
    versions: dict[str, Version] = {}
    uids: dict[str, str] = {}
    failed: dict[str, str] = {}
    for item in text.split("\0") if text else ():
        parts = item.split("/", 3)
        if len(parts) < 4 or parts[2] not in ("u", "f"):
            raise ValueError("not a cursor of this connector")
        name, version, kind, rest = parts
        versions[name] = version
        if kind == "f":
            failed[name] = rest
        elif name != rest + ".vcf":
            uids[name] = rest
    return versions, uids, failed


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


def _remove_if_stale(path: str) -> None:
    """A temporary file a crashed run left behind (we never read them) goes after an hour."""
    try:
        if os.stat(path).st_mtime < time.time() - _STALE_TEMP_SECONDS:
            os.unlink(path)
    except OSError:
        pass


def _start_helper(folder: str) -> subprocess.Popen[bytes] | None:
    """A helper process listing ``folder``; None when none can be started (no Python
    interpreter to start: the caller lists the folder itself then)."""
    if getattr(sys, "frozen", False) or not sys.executable:
        return None
    import subprocess  # only here: the CLI starts faster without it

    command = [sys.executable, "-I", "-S", "-c", LIST_SOURCE + _HELPER_MAIN, folder]
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console on Windows
        )
    except OSError:
        return None


def _helper_result(
    helper: subprocess.Popen[bytes], files: str
) -> tuple[list[tuple[str, Version]], list[str], list[str]] | None:
    """(changed, deleted, other names) a helper found against the cursor's ``files``; None if
    it failed (the caller lists the folder itself then)."""
    try:
        output, _ = helper.communicate(files.encode("utf-8", "surrogatepass"))
    except OSError:
        helper.kill()
        helper.wait()
        return None
    if helper.returncode != 0:
        return None
    changed, deleted, others = output.decode("utf-8", "surrogatepass").split("\0")
    parts = changed.split("/") if changed else []
    if len(parts) % 2:
        return None
    return (
        list(zip(parts[::2], parts[1::2], strict=True)),
        deleted.split("/") if deleted else [],
        others.split("/") if others else [],
    )


def _joined(versions: dict[str, Version]) -> str:
    return "/".join(chain.from_iterable(versions.items()))


def _safe_stem(key: str) -> str:
    stem = _UNSAFE.sub("_", key)[:120].lstrip(".")
    return stem or secrets.token_hex(8)


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        _discard(path)


def _discard(path: str) -> None:
    with suppress(OSError):
        os.unlink(path)


# Hidden names of our temporary files: unique in this process, and a random part per process.
_PROCESS_TOKEN = secrets.token_hex(4)
_SERIALS = count()


def _hidden_name(name: str) -> str:
    return f".{name}{_TEMP_MARK}{_PROCESS_TOKEN}{next(_SERIALS):x}"


def _link_exclusive(temp: str, target: str) -> None:
    """Give ``temp`` the name ``target`` unless ``target`` exists (FileExistsError then)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if os.path.exists(target):  # no hard links here: close the window as we can
            raise FileExistsError(errno.EEXIST, "File exists", target) from None
        os.replace(temp, target)


def _uid_notes(
    versions: dict[str, Version], uids: dict[str, str], failed: dict[str, str]
) -> list[RecordNote]:
    """A note on each card whose UID another card of the folder has too.

    Cards named "<UID>.vcf" have distinct UIDs (their names differ), so a UID can only be shared
    by a card of the ``uids`` table and another one of that table or the card named after it.
    """
    holders: dict[str, list[str]] = {}
    for name, uid in uids.items():
        if uid:
            holders.setdefault(uid, []).append(name)
    notes = []
    for uid, names in holders.items():
        named_after = uid + ".vcf"
        if named_after in versions and named_after not in uids and named_after not in failed:
            names.append(named_after)
        if len(names) < 2:
            continue
        names.sort()
        for name in names:
            other = names[1] if name == names[0] else names[0]
            notes.append(RecordNote(name, f"UID {uid} is also used by {other}"))
    return notes
