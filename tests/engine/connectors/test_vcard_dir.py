"""The vCard folder connector: listings, cursors, atomic writes and the files it must not touch."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from piesync_desktop.engine.connectors import vcard_dir
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.errors import ConnectorError
from piesync_desktop.engine.model import (
    Changes,
    Item,
    NewRecord,
    ReadFailure,
    Record,
    RecordUpdate,
)

CARD = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "UID:{uid}\r\n"
    "FN:{name}\r\n"
    "N:;{name};;;\r\n"
    "EMAIL;TYPE=INTERNET:{uid}@example.com\r\n"
    "X-CUSTOM;X-PARAM=1:keep me\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsL\r\n"
    " DBkSEw8UHRofHh0a\r\n"
    "END:VCARD\r\n"
)


def card(uid: str, name: str = "Anna") -> str:
    return CARD.format(uid=uid, name=name)


def listing(connector: VCardDir, cursor: object) -> Changes:
    """``changes`` with its records read (the connector parses them as they are consumed)."""
    changes = connector.changes(cursor)
    changes.records = list(changes.records)
    return changes


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "contacts"
    path.mkdir()
    return path


@pytest.fixture
def connector(folder: Path) -> VCardDir:
    conn = VCardDir(str(folder))
    conn.open()
    return conn


@pytest.fixture
def parse_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = vcard_dir.parse_card

    def counting(text: str):
        calls[0] += 1
        return real(text)

    monkeypatch.setattr(vcard_dir, "parse_card", counting)
    return calls


def bump(path: Path, text: str) -> None:
    """Rewrite a file so its mtime surely differs from the one seen before."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8", newline="")
    os.utime(path, ns=(before + 5_000_000_000, before + 5_000_000_000))


def test_the_catalogue_opens_it(folder: Path) -> None:
    conn = open_connector(f"vcard:{folder}")
    assert isinstance(conn, VCardDir)
    assert conn.location == str(folder)
    assert conn.account_key == "vcard:" + os.path.realpath(folder)


def test_open_explains_a_missing_folder_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="does not exist: create it"):
        VCardDir(str(tmp_path / "nope")).open()
    write(tmp_path, "a.vcf", card("a"))
    with pytest.raises(ConnectorError, match="not a folder"):
        VCardDir(str(tmp_path / "a.vcf")).open()


def test_home_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert VCardDir("~/contacts").path == tmp_path / "contacts"


def test_first_listing_reads_every_card_and_skips_other_files(
    folder: Path, connector: VCardDir
) -> None:
    write(folder, "a.vcf", card("uid-a", "Anna"))
    write(folder, "B.VCF", card("uid-b", "Bob"))
    write(folder, ".hidden.vcf", card("uid-h"))
    write(folder, ".a.vcf.tmp-1234", card("uid-t"))
    write(folder, "notes.txt", "hello")
    (folder / "sub.vcf").mkdir()
    changes = listing(connector, None)
    assert changes.total == 2
    assert sorted(r.id for r in changes.records) == ["B.VCF", "a.vcf"]
    record = next(r for r in changes.records if r.id == "a.vcf")
    stat = (folder / "a.vcf").stat()
    assert record.version == f"{stat.st_mtime_ns}:{stat.st_size}"
    assert record.create_key == "uid-a"
    assert record.fields["full_name"] == "Anna"
    assert record.fields["emails"] == (Item("other", "uid-a@example.com"),)
    assert changes.failures == changes.deleted == changes.notes == []


def test_nothing_changed_parses_nothing(
    folder: Path, connector: VCardDir, parse_count: list[int]
) -> None:
    for number in range(5):
        write(folder, f"{number}.vcf", card(f"uid-{number}"))
    listing(connector, None)
    assert parse_count[0] == 5
    cursor = json.loads(json.dumps(connector.cursor()))
    again = listing(VCardDir(str(folder)), cursor)
    assert parse_count[0] == 5
    assert again.records == again.deleted == again.failures == []
    assert again.total == 5


def test_changed_new_and_deleted_files(folder: Path, connector: VCardDir) -> None:
    for name in ("a", "b", "c"):
        write(folder, f"{name}.vcf", card(name))
    listing(connector, None)
    cursor = connector.cursor()
    bump(folder / "a.vcf", card("a", "Anne"))
    (folder / "b.vcf").unlink()
    write(folder, "d.vcf", card("d"))
    changes = listing(VCardDir(str(folder)), cursor)
    assert sorted(r.id for r in changes.records) == ["a.vcf", "d.vcf"]
    assert changes.deleted == ["b.vcf"]
    assert changes.total == 3


def test_our_own_writes_are_in_the_cursor(
    folder: Path, connector: VCardDir, parse_count: list[int]
) -> None:
    write(folder, "a.vcf", card("a"))
    write(folder, "gone.vcf", card("gone"))
    listing(connector, None)
    created = connector.create([NewRecord("new-1", {"full_name": "Nina"}, frozenset({"VIP"}))])
    updated = connector.update([RecordUpdate("a.vcf", {"title": "Boss"})])
    deleted = connector.delete(["gone.vcf"])
    assert [r.error for r in created + updated + deleted] == [None, None, None]
    cursor = connector.cursor()
    count = parse_count[0]
    changes = listing(VCardDir(str(folder)), json.loads(json.dumps(cursor)))
    assert parse_count[0] == count
    assert changes.records == changes.deleted == []
    assert changes.total == 2


def test_create_writes_a_card_named_after_its_key(folder: Path, connector: VCardDir) -> None:
    fields = {"given_name": "Zoë", "emails": (Item("work", "zoe@example.com"),)}
    [result] = connector.create([NewRecord("abc/../1", fields, frozenset({"Friends"}))])
    assert result.error is None
    assert result.key == "abc/../1"
    assert result.id == "abc_.._1.vcf"
    assert isinstance(result.record, Record)
    assert result.record.create_key == "abc/../1"
    assert result.record.tags == {"Friends"}
    assert result.record.fields["full_name"] == "Zoë"
    stat = (folder / result.id).stat()
    assert result.record.version == f"{stat.st_mtime_ns}:{stat.st_size}"
    assert [p.name for p in folder.iterdir()] == [result.id]
    listed = listing(VCardDir(str(folder)), None).records[0]
    assert listed.create_key == "abc/../1"
    assert listed.fields == result.record.fields


def test_create_after_a_crash_returns_the_file_already_there(
    folder: Path, connector: VCardDir
) -> None:
    [first] = connector.create([NewRecord("key-1", {"full_name": "Ann"})])
    before = (folder / "key-1.vcf").read_bytes()
    [again] = VCardDir(str(folder)).create([NewRecord("key-1", {"full_name": "Ann B"})])
    assert again.error is None
    assert again.id == first.id == "key-1.vcf"
    assert (folder / "key-1.vcf").read_bytes() == before
    assert len(list(folder.iterdir())) == 1


def test_create_never_overwrites_another_card(folder: Path, connector: VCardDir) -> None:
    write(folder, "key-1.vcf", card("someone-else"))
    write(folder, "key-1-2.vcf", b"\xff\xfe not a card")
    [result] = connector.create([NewRecord("key-1", {"full_name": "Ann"})])
    assert result.id == "key-1-3.vcf"
    assert "someone-else" in (folder / "key-1.vcf").read_text()
    assert (folder / "key-1-2.vcf").read_bytes() == b"\xff\xfe not a card"


def test_update_keeps_unknown_properties_and_photo(folder: Path, connector: VCardDir) -> None:
    path = write(folder, "a.vcf", card("a"))
    [record] = listing(connector, None).records
    update = RecordUpdate(
        "a.vcf",
        {"title": "Chief", "phones": (Item("mobile", "+32 475"),)},
        add_tags=frozenset({"PieSync Trash"}),
        version=record.version,
    )
    [result] = connector.update([update])
    assert result.error is None and not result.conflict
    text = path.read_bytes().decode()
    assert "X-CUSTOM;X-PARAM=1:keep me\r\n" in text
    photo = CARD[CARD.index("PHOTO") : CARD.index("END:VCARD")]
    assert photo.endswith("Hh0a\r\n")
    assert photo in text
    assert result.record is not None
    assert result.record.fields["title"] == "Chief"
    assert result.record.fields["phones"] == (Item("mobile", "+32 475"),)
    assert result.record.tags == {"PieSync Trash"}
    stat = path.stat()
    assert result.record.version == f"{stat.st_mtime_ns}:{stat.st_size}"


def test_update_detects_a_change_after_the_read(folder: Path, connector: VCardDir) -> None:
    path = write(folder, "a.vcf", card("a"))
    [record] = listing(connector, None).records
    bump(path, card("a", "Edited elsewhere"))
    edited = path.read_bytes()
    for version in (record.version, None):
        [result] = connector.update([RecordUpdate("a.vcf", {"title": "x"}, version=version)])
        assert result.conflict
        assert result.error == "changed since it was read"
        assert path.read_bytes() == edited


def test_update_of_a_removed_file(connector: VCardDir) -> None:
    [result] = connector.update([RecordUpdate("gone.vcf", {"title": "x"})])
    assert result.error == "file was removed"


def test_unparseable_files_are_failures_and_never_rewritten(
    folder: Path, connector: VCardDir, parse_count: list[int]
) -> None:
    broken = write(folder, "broken.vcf", "BEGIN:VCARD\r\nFN:x\r\nno colon here\r\nEND:VCARD\r\n")
    latin = write(folder, "latin.vcf", card("l", "Zoë").encode("latin-1"))
    changes = listing(connector, None)
    failures = {f.id: f for f in changes.failures}
    assert failures["broken.vcf"] == ReadFailure(
        "broken.vcf", "Cannot read broken.vcf: line 3: property without a colon", "broken.vcf"
    )
    assert failures["latin.vcf"].reason.startswith("Cannot read latin.vcf: not UTF-8 text")
    assert changes.total == 2
    count = parse_count[0]
    again = listing(VCardDir(str(folder)), connector.cursor())
    assert parse_count[0] == count
    assert {f.id for f in again.failures} == {"broken.vcf", "latin.vcf"}
    before = {p: p.read_bytes() for p in (broken, latin)}
    results = connector.update(
        [RecordUpdate("broken.vcf", {"title": "x"}), RecordUpdate("latin.vcf", {"title": "x"})]
    )
    assert all(r.error and not r.conflict for r in results)
    assert {p: p.read_bytes() for p in (broken, latin)} == before


def test_two_files_with_one_uid_both_sync_with_notes(folder: Path, connector: VCardDir) -> None:
    write(folder, "a.vcf", card("same"))
    write(folder, "b.vcf", card("same"))
    write(folder, "c.vcf", card("other"))
    changes = listing(connector, None)
    assert len(changes.records) == 3
    notes = {n.id: n.note for n in changes.notes}
    assert notes == {
        "a.vcf": "UID same is also used by b.vcf",
        "b.vcf": "UID same is also used by a.vcf",
    }
    again = listing(VCardDir(str(folder)), connector.cursor())
    assert {n.id for n in again.notes} == {"a.vcf", "b.vcf"}


def test_get_reads_now(folder: Path, connector: VCardDir) -> None:
    write(folder, "a.vcf", card("a"))
    got = connector.get(["a.vcf", "gone.vcf", "../escape.vcf"])
    assert isinstance(got[0], Record) and got[0].create_key == "a"
    assert isinstance(got[1], ReadFailure) and got[1].reason.endswith("was removed")
    assert isinstance(got[2], ReadFailure)


def test_writes_leave_no_temporary_files(folder: Path, connector: VCardDir) -> None:
    write(folder, "a.vcf", card("a"))
    listing(connector, None)
    connector.update([RecordUpdate("a.vcf", {"notes": "x" * 500})])
    connector.create([NewRecord(f"n{i}", {"full_name": f"N {i}"}) for i in range(3)])
    connector.settle()  # the file the update replaced is removed on a thread of its own
    assert sorted(p.name for p in folder.iterdir()) == ["a.vcf", "n0.vcf", "n1.vcf", "n2.vcf"]


def test_a_failed_write_leaves_the_file_and_no_temporary(
    folder: Path, connector: VCardDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(folder, "a.vcf", card("a"))
    listing(connector, None)

    def crash(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vcard_dir.os, "replace", crash)
    [result] = connector.update([RecordUpdate("a.vcf", {"title": "x"})])
    assert result.error is not None and "No space left" in result.error
    assert path.read_bytes().decode() == card("a")
    assert [p.name for p in folder.iterdir()] == ["a.vcf"]


def test_update_preserves_the_file_mode(folder: Path, connector: VCardDir) -> None:
    path = write(folder, "a.vcf", card("a"))
    path.chmod(0o600)
    connector.update([RecordUpdate("a.vcf", {"title": "x"})])
    assert path.stat().st_mode & 0o777 == 0o600


def test_delete_removes_files(folder: Path, connector: VCardDir) -> None:
    write(folder, "a.vcf", card("a"))
    listing(connector, None)
    results = connector.delete(["a.vcf", "missing.vcf"])
    assert [r.error for r in results] == [None, None]
    assert not (folder / "a.vcf").exists()
    assert "a.vcf" not in connector.cursor()["files"]


def test_an_unknown_cursor_means_a_full_listing(folder: Path, connector: VCardDir) -> None:
    write(folder, "a.vcf", card("a"))
    assert len(listing(connector, {"v": 99}).records) == 1
    assert len(listing(connector, "garbage").records) == 1


def test_update_with_a_field_the_folder_lacks_is_an_error(
    folder: Path, connector: VCardDir
) -> None:
    write(folder, "a.vcf", card("a"))
    [result] = connector.update([RecordUpdate("a.vcf", {"hubspot_score": "3"})])
    assert result.error == "not vCard fields: hubspot_score"
    assert (folder / "a.vcf").read_bytes().decode() == card("a")


def test_listing_removes_stale_temporary_files_only(folder: Path, connector: VCardDir) -> None:
    write(folder, "a.vcf", card("a"))
    old = write(folder, ".a.vcf.tmp-0badf00d", card("a"))
    fresh = write(folder, ".b.vcf.tmp-12345678", card("b"))
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    changes = listing(connector, None)
    assert [r.id for r in changes.records] == ["a.vcf"]
    assert not old.exists() and fresh.exists()


def test_cursor_keeps_uids_and_reasons_with_slashes(folder: Path, connector: VCardDir) -> None:
    write(folder, "a.vcf", card("urn:uuid:1/2/3"))
    write(folder, "broken.vcf", "BEGIN:VCARD\r\nFN:x/y\r\n")
    first = listing(connector, None)
    cursor = json.loads(json.dumps(connector.cursor()))
    again = listing(VCardDir(str(folder)), cursor)
    assert again.records == [] and again.deleted == []
    assert [f.reason for f in again.failures] == [f.reason for f in first.failures]
    write(folder, "b.vcf", card("urn:uuid:1/2/3"))
    notes = listing(VCardDir(str(folder)), cursor).notes
    assert {n.id for n in notes} == {"a.vcf", "b.vcf"}
    assert listing(VCardDir(str(folder)), {"v": 2, "files": "garbage"}).total == 3


def _listed_after(folder: Path, connector: VCardDir, change: Callable[[], None]) -> Changes:
    """List, apply ``change`` to the folder, then list again from the saved cursor."""
    listing(connector, None)
    cursor = json.loads(json.dumps(connector.cursor()))
    change()
    return listing(VCardDir(str(folder)), cursor)


def test_an_edit_in_place_of_the_same_size_is_seen(folder: Path, connector: VCardDir) -> None:
    path = write(folder, "a.vcf", card("a", "Anna"))
    inode, size = path.stat().st_ino, path.stat().st_size

    def edit_in_place() -> None:
        with path.open("r+b") as handle:  # same file, same length: only the name changes
            handle.write(card("a", "Anne").encode())
        later = path.stat().st_mtime_ns + 1_000_000_000
        os.utime(path, ns=(later, later))

    changes = _listed_after(folder, connector, edit_in_place)
    assert (path.stat().st_ino, path.stat().st_size) == (inode, size)
    assert [r.fields["full_name"] for r in changes.records] == ["Anne"]


def test_an_atomic_replace_of_the_same_size_is_seen(folder: Path, connector: VCardDir) -> None:
    path = write(folder, "a.vcf", card("a", "Anna"))
    inode, size = path.stat().st_ino, path.stat().st_size

    def replace() -> None:
        temp = write(folder, ".a.vcf.new", card("a", "Anne"))
        later = path.stat().st_mtime_ns + 1_000_000_000
        os.utime(temp, ns=(later, later))
        temp.replace(path)

    changes = _listed_after(folder, connector, replace)
    assert path.stat().st_ino != inode and path.stat().st_size == size
    assert [r.fields["full_name"] for r in changes.records] == ["Anne"]
    assert changes.deleted == []


def test_a_listing_from_the_cursor_reads_only_what_changed(
    folder: Path, connector: VCardDir, parse_count: list[int]
) -> None:
    for name in ("a", "b", "c", "d"):
        write(folder, f"{name}.vcf", card(name))
    write(folder, "broken.vcf", "BEGIN:VCARD\r\nFN:x\r\n")

    def change() -> None:
        bump(folder / "a.vcf", card("a", "Anne"))
        (folder / "b.vcf").unlink()
        write(folder, "e.vcf", card("e"))
        parse_count[0] = 0

    changes = _listed_after(folder, connector, change)
    assert parse_count[0] == 2
    assert sorted(r.id for r in changes.records) == ["a.vcf", "e.vcf"]
    assert changes.deleted == ["b.vcf"]
    assert [f.id for f in changes.failures] == ["broken.vcf"]
    assert changes.total == 5


def test_a_cursor_of_the_previous_version_is_read_without_reading_the_folder(
    folder: Path, connector: VCardDir, parse_count: list[int]
) -> None:
    write(folder, "a.vcf", card("a"))
    write(folder, "b.vcf", card("same"))
    write(folder, "c.vcf", card("same"))
    write(folder, "broken.vcf", "BEGIN:VCARD\r\nFN:x/y\r\n")
    first = listing(connector, None)
    versions = {r.id: r.version for r in first.records}
    versions["broken.vcf"] = "{0.st_mtime_ns}:{0.st_size}".format((folder / "broken.vcf").stat())
    reason = first.failures[0].reason
    old = {
        "v": 3,
        "files": "\0".join(
            [
                f"a.vcf/{versions['a.vcf']}/u/a",
                f"b.vcf/{versions['b.vcf']}/u/same",
                f"c.vcf/{versions['c.vcf']}/u/same",
                f"broken.vcf/{versions['broken.vcf']}/f/{reason}",
            ]
        ),
    }
    count = parse_count[0]
    again = listing(VCardDir(str(folder)), old)
    assert parse_count[0] == count
    assert again.records == again.deleted == []
    assert [(f.id, f.reason) for f in again.failures] == [("broken.vcf", reason)]
    assert {n.id for n in again.notes} == {"b.vcf", "c.vcf"}


def test_a_uid_shared_with_a_card_named_after_it_gets_notes(
    folder: Path, connector: VCardDir
) -> None:
    write(folder, "same.vcf", card("same"))
    write(folder, "other.vcf", card("same"))
    write(folder, "lonely.vcf", card("nobody-else"))
    notes = {n.id: n.note for n in listing(connector, None).notes}
    assert notes == {
        "other.vcf": "UID same is also used by same.vcf",
        "same.vcf": "UID same is also used by other.vcf",
    }
    again = listing(VCardDir(str(folder)), json.loads(json.dumps(connector.cursor())))
    assert {n.id for n in again.notes} == {"same.vcf", "other.vcf"}


def _odd_folder(folder: Path) -> None:
    write(folder, "a.vcf", card("a"))
    write(folder, "B.VCF", card("b"))
    write(folder, "notes.txt", "hello")
    write(folder, ".hidden.vcf", card("h"))
    (folder / "sub.vcf").mkdir()
    if os.name == "posix":
        (folder / "link.vcf").symlink_to(folder / "a.vcf")
        os.mkfifo(folder / "pipe.vcf")
        odd = os.fsdecode(b"caf\xe9-\n.vcf")  # not UTF-8, with a newline
        write(folder, odd, card("odd"))


def _seen_as(listing: vcard_dir._Listing) -> tuple[object, ...]:
    return (
        listing.versions,
        listing.changed,
        listing.deleted,
        sorted(listing.others),
        listing.tables,
    )


def _list_while_another_is(folder: Path, cursor: object) -> tuple[tuple[object, ...], bool]:
    """What ``_list`` sees of the folder while another listing holds the in-process turn, and
    whether it waited for that turn."""
    out: list[vcard_dir._Listing] = []
    worker = threading.Thread(target=lambda: out.append(VCardDir(str(folder))._list(cursor)))
    with vcard_dir._LISTING:  # another folder is being listed
        worker.start()
        worker.join(0.5)
        waited = not out
    worker.join(30)
    assert out, "the listing never finished"
    return _seen_as(out[0]), waited


def _helper_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    started: list[str] = []
    real = vcard_dir._start_helper

    def start(path: str) -> object:
        started.append(path)
        return real(path)

    monkeypatch.setattr(vcard_dir, "_start_helper", start)
    return started


def test_the_helper_process_lists_a_folder_as_the_connector_does(
    folder: Path, connector: VCardDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    _odd_folder(folder)
    write(folder, "gone.vcf", card("gone"))
    write(folder, "same.vcf", card("same"))
    listing(connector, None)
    cursor = json.loads(json.dumps(connector.cursor()))
    bump(folder / "a.vcf", card("a", "Anne"))
    bump(folder / "B.VCF", card("b", "Bob"))
    (folder / "gone.vcf").unlink()
    write(folder, "new.vcf", card("new"))
    expected = _seen_as(VCardDir(str(folder))._list(cursor))  # alone: listed in-process
    versions, changed, deleted, _others, _tables = expected
    edited = {"a.vcf", "B.VCF", "new.vcf"} | ({"link.vcf"} if os.name == "posix" else set())
    assert {name for name, _ in changed} == edited  # link.vcf is a.vcf, seen through a link
    assert deleted == {"gone.vcf"}
    assert "same.vcf" in versions and not set(versions) & {"sub.vcf", "pipe.vcf", ".hidden.vcf"}
    started = _helper_started(monkeypatch)
    monkeypatch.setattr(vcard_dir, "_HELPER_MIN_FILES", 2)
    seen, waited = _list_while_another_is(folder, cursor)
    assert started == [str(folder)] and not waited
    assert seen == expected


def test_a_small_folder_waits_for_its_turn_rather_than_start_a_helper(
    folder: Path, connector: VCardDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(folder, "a.vcf", card("a"))
    listing(connector, None)
    cursor = connector.cursor()
    started = _helper_started(monkeypatch)
    seen, waited = _list_while_another_is(folder, cursor)
    assert started == [] and waited
    assert seen[0] == {"a.vcf": cursor["files"].split("/")[1]}


def test_without_a_helper_the_listing_waits_its_turn(
    folder: Path, connector: VCardDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(folder, "a.vcf", card("a"))
    listing(connector, None)
    cursor = connector.cursor()
    monkeypatch.setattr(vcard_dir, "_HELPER_MIN_FILES", 1)
    for python in ("", str(folder / "no-such-python")):
        monkeypatch.setattr(vcard_dir.sys, "executable", python)
        assert vcard_dir._start_helper(str(folder)) is None
        seen, waited = _list_while_another_is(folder, cursor)
        assert waited
        assert list(seen[0]) == ["a.vcf"]


def test_a_helper_that_fails_leaves_the_listing_to_the_connector(
    folder: Path, connector: VCardDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(folder, "a.vcf", card("a"))
    listing(connector, None)
    cursor = connector.cursor()
    monkeypatch.setattr(vcard_dir, "_HELPER_MIN_FILES", 1)
    monkeypatch.setattr(vcard_dir, "LIST_SOURCE", "raise SystemExit(3)\n")
    helper = vcard_dir._start_helper(str(folder))
    assert helper is not None and vcard_dir._helper_result(helper, cursor["files"]) is None
    seen, waited = _list_while_another_is(folder, cursor)
    assert waited
    assert list(seen[0]) == ["a.vcf"]


def test_an_update_frees_the_replaced_file_on_a_thread_of_its_own(
    folder: Path, connector: VCardDir
) -> None:
    path = write(folder, "a.vcf", card("a"))
    listing(connector, None)
    old_inode = path.stat().st_ino
    [result] = connector.update([RecordUpdate("a.vcf", {"title": "Boss"})])
    assert result.error is None
    assert path.stat().st_ino != old_inode
    assert "TITLE:Boss" in path.read_text()
    connector.settle()
    assert [p.name for p in folder.iterdir()] == ["a.vcf"]


def test_an_update_skips_the_second_read_of_a_card_it_read(
    folder: Path, connector: VCardDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(folder, "a.vcf", card("a"))
    write(folder, "b.vcf", card("b"))
    write(folder, "broken.vcf", "BEGIN:VCARD\r\nFN:x\r\nno colon\r\nEND:VCARD\r\n")
    listing(connector, None)
    checked: list[bool] = []
    real = vcard_dir.update_card

    def spy(*args: Any, readable: bool = False, **kwargs: Any) -> str:
        checked.append(readable)
        return real(*args, readable=readable, **kwargs)

    monkeypatch.setattr(vcard_dir, "update_card", spy)
    [done] = connector.update([RecordUpdate("a.vcf", {"title": "x"})])
    assert done.error is None and checked == [True]  # read by this connector: parsed then
    stat = (folder / "b.vcf").stat()
    version = f"{stat.st_mtime_ns}:{stat.st_size}"
    [done] = VCardDir(str(folder)).update([RecordUpdate("b.vcf", {"title": "x"}, version=version)])
    assert done.error is None and checked == [True, False]  # never read by that one
    before = (folder / "broken.vcf").read_bytes()
    [refused] = connector.update([RecordUpdate("broken.vcf", {"title": "x"})])
    assert checked == [True, False, False]  # its last read failed: checked again, refused
    assert refused.error == "Cannot read broken.vcf: line 3: property without a colon"
    assert (folder / "broken.vcf").read_bytes() == before


def test_nothing_changed_gives_back_the_same_cursor(folder: Path, connector: VCardDir) -> None:
    for name in ("a", "b", "c"):
        write(folder, f"{name}.vcf", card(name))
    listing(connector, None)
    cursor = json.loads(json.dumps(connector.cursor()))
    parts = cursor["files"].split("/")
    pairs = list(zip(parts[::2], parts[1::2], strict=True))
    cursor["files"] = "/".join(f"{n}/{v}" for n, v in reversed(pairs))  # listed in another order
    again = VCardDir(str(folder))
    assert listing(again, cursor).records == []
    assert again.cursor() is cursor  # an equal cursor is not written again
    again.update([RecordUpdate("b.vcf", {"title": "x"})])
    changed = again.cursor()
    assert changed != cursor
    assert listing(VCardDir(str(folder)), changed).records == []
    parts = changed["files"].split("/")
    pairs = list(zip(parts[::2], parts[1::2], strict=True))
    old = {"v": 3, "files": "\0".join(f"{n}/{v}/u/{n[:-4]}" for n, v in pairs)}
    upgraded = VCardDir(str(folder))
    assert listing(upgraded, old).records == []
    assert upgraded.cursor()["v"] == vcard_dir.CURSOR_VERSION  # written again, in the new form
