"""Share jobs end to end through the CLI on real folders of .vcf files (issue 8).

One source folder whose cards carry CATEGORIES; destination folders that are other people's
address books, with contacts of their own. What a person sees: the group's contacts copied one
way, with the group and the job's reference tag, kept as the source has them; the destination's
own contacts never touched; a destination added later synced at once; a removed destination
left with its own contacts only.
"""

from __future__ import annotations

import os
import re
import time
import types
import uuid
from pathlib import Path

import pytest
from helpers.cli import Cli

from piesync_desktop.engine.model import TRASH_TAG
from piesync_desktop.engine.store import Store

pytestmark = pytest.mark.usefixtures("both_load_modes")

CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:;{name};;;\r\n{extra}END:VCARD\r\n"
)


def card(folder: Path, name: str, extra: str = "", uid: str | None = None) -> Path:
    uid = uid or uuid.uuid4().hex
    path = folder / f"{uid}.vcf"
    path.write_text(CARD.format(uid=uid, name=name, extra=extra), encoding="utf-8", newline="")
    return path


def edit(path: Path, old: str, new: str) -> None:
    text = read(path)
    assert old in text, (old, text)
    path.write_text(text.replace(old, new), encoding="utf-8", newline="")
    stat = path.stat()  # an edit within the same mtime tick is still seen
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # as written: CRLF line ends kept


def texts(folder: Path) -> dict[str, str]:
    return {p.name: read(p) for p in sorted(folder.glob("*.vcf"))}


def named(folder: Path, name: str) -> list[Path]:
    return [p for p in sorted(folder.glob("*.vcf")) if f"\nFN:{name}\r" in read(p)]


def categories(text: str) -> set[str]:
    found = re.search(r"\nCATEGORIES:([^\r]*)\r", text)
    return set(found.group(1).split(",")) if found else set()


def the(folder: Path, name: str) -> str:
    [path] = named(folder, name)
    return read(path)


@pytest.fixture
def cli(profile: Path) -> Cli:
    return Cli(profile)


@pytest.fixture
def books(tmp_path: Path) -> types.SimpleNamespace:
    """A source with a Team group, and two destinations with contacts of their own."""
    source, one, two, three = (tmp_path / n for n in ("source", "one", "two", "three"))
    for folder in (source, one, two, three):
        folder.mkdir()
    ann = card(source, "Ann", "EMAIL:ann@acme.com\r\nTEL:+3225550101\r\nCATEGORIES:Team,Family\r\n")
    bob = card(source, "Bob", "CATEGORIES:team\r\n")  # no email, and the group in other letters
    cat = card(source, "Cat", "EMAIL:cat@acme.com\r\nCATEGORIES:Family\r\n")
    own = card(one, "Own Ann", "EMAIL:ann@acme.com\r\nNOTE:mine\r\n")  # same email, not shared
    mine = card(one, "Mine", "EMAIL:mine@one.org\r\nCATEGORIES:Team\r\n")  # put in Team by one
    return types.SimpleNamespace(
        source=source, one=one, two=two, three=three, ann=ann, bob=bob, cat=cat, own=own, mine=mine
    )


def share(cli: Cli, books: types.SimpleNamespace, *destinations: Path) -> str:
    code, text = cli(
        "share",
        "Team",
        "--source",
        f"vcard:{books.source}",
        "--group",
        "Team",
        *[arg for folder in destinations for arg in ("--to", f"vcard:{folder}")],
    )
    assert code == 0, text
    return text


def test_a_new_job_copies_the_group_at_once_with_its_tags_and_nothing_else(cli, books):
    before = {**texts(books.one)}
    text = share(cli, books, books.one, books.two)
    assert "Share job 'Team' created" in text and text.count("2 copies made") == 2
    for folder in (books.one, books.two):
        ann, bob = the(folder, "Ann"), the(folder, "Bob")
        # the source's other groups stay private
        assert categories(ann) == categories(bob) == {"Team", "gSync1"}
        assert "ann@acme.com" in ann and "+3225550101" in ann
        assert not named(folder, "Cat")
    # the destination's own contacts are exactly as they were
    assert {k: v for k, v in texts(books.one).items() if k in before} == before
    assert len(texts(books.one)) == 4 and len(texts(books.two)) == 2
    jobs = cli.json("shares")
    assert jobs[0]["reference_tag"] == "gSync1" and jobs[0]["interval_minutes"] == 24 * 60
    specs = [d["to"] for d in jobs[0]["destinations"]]
    assert specs == [f"vcard:{books.one}", f"vcard:{books.two}"]
    code, text = cli("connections")  # the destinations are the job's, not the person's connections
    assert code == 0 and "No connections yet." in text


def test_source_edits_overwrite_destination_edits_and_group_changes_follow(cli, books):
    share(cli, books, books.one)
    [copy] = named(books.one, "Ann")
    edit(copy, "TEL:+3225550101", "TEL:+3299999999")  # edited in the destination
    edit(copy, "CATEGORIES:Team,gSync1", "CATEGORIES:gSync1,Private")  # and out of the group
    code, text = cli("sync", "Team")
    assert code == 0 and "1 updated" in text
    restored = the(books.one, "Ann")
    assert "+3225550101" in restored and "+3299999999" not in restored
    assert categories(restored) == {"Team", "gSync1", "Private"}  # its own tag may stay
    edit(books.ann, "TEL:+3225550101", "TEL:+3225550202")  # edited in the source
    edit(books.cat, "CATEGORIES:Family", "CATEGORIES:Family,Team")  # joins the group
    code, text = cli("sync", "Team")
    assert code == 0 and "1 copies made, 1 updated" in text
    assert "+3225550202" in the(books.one, "Ann") and "gSync1" in the(books.one, "Cat")
    assert "NOTE:mine" in the(books.one, "Own Ann")  # same email, never paired, never touched


def test_a_contact_leaving_the_group_is_put_up_for_review_and_comes_back(cli, books, profile):
    share(cli, books, books.one)
    edit(books.bob, "CATEGORIES:team", "CATEGORIES:Old")
    code, _ = cli("sync", "Team")
    assert code == 0
    bob = the(books.one, "Bob")
    assert categories(bob) == {"gSync1", TRASH_TAG}  # out of the group, kept for review
    [item] = cli.json("trash", "Team → vCard folder 'one'")
    assert item["name"] == "Bob" and item["tagged"] and item["side"] == "b"
    code, text = cli("trash", "Team → vCard folder 'one'")
    assert code == 0 and "B Bob (" in text and "out of 'Team' (or deleted) in A on" in text
    data = cli.json("health", "Team → vCard folder 'one'")
    [copy] = [c for c in data["contacts"] if c["name"] == "Bob" and c["side"] == "b"]
    assert copy["reason"].startswith("No longer in 'Team' in vCard folder")
    edit(books.bob, "CATEGORIES:Old", "CATEGORIES:Old,Team")
    code, _ = cli("sync", "Team")
    assert code == 0
    assert categories(the(books.one, "Bob")) == {"Team", "gSync1"}  # paired again, untrashed
    assert len(named(books.one, "Bob")) == 1


def test_the_destination_owners_contacts_are_never_changed(cli, books):
    share(cli, books, books.one)
    edit(books.mine, "EMAIL:mine@one.org", "EMAIL:mine@one.org\r\nTITLE:Chef")
    code, _ = cli("sync", "Team")
    assert code == 0
    mine = the(books.one, "Mine")
    assert categories(mine) == {"Team"} and "TITLE:Chef" in mine
    data = cli.json("health", "Team → vCard folder 'one'")
    assert "Mine" not in {c["name"] for c in data["contacts"]}  # nothing of the job's


def test_a_copy_deleted_in_the_destination_is_not_made_again(cli, books):
    share(cli, books, books.one)
    [copy] = named(books.one, "Ann")
    copy.unlink()
    code, _ = cli("sync", "Team")
    assert code == 0 and not named(books.one, "Ann")
    edit(books.ann, "TEL:+3225550101", "TEL:+3225550303")
    code, _ = cli("sync", "Team")
    assert code == 0 and not named(books.one, "Ann")
    data = cli.json("health", "Team → vCard folder 'one'")
    [ann] = [c for c in data["contacts"] if c["name"] == "Ann"]
    assert "it is not created there again" in ann["reason"]


def test_a_destination_added_later_is_synced_at_once(cli, books):
    share(cli, books, books.one)
    code, text = cli("share", "Team", "--to", f"vcard:{books.two}")
    assert code == 0, text
    assert "Share job 'Team' changed" in text and "2 copies made" in text
    assert named(books.two, "Ann") and named(books.two, "Bob")
    code, text = cli("share", "Team", "--to", f"vcard:{books.two}")
    assert code == 2 and not text  # already a destination: refused, nothing changed
    code, text = cli("share", "Team", "--to", f"vcard:{books.source}")
    assert code == 2


def test_removing_a_destination_deletes_the_copies_and_keeps_the_owners_contacts(
    cli, books, profile, capsys
):
    share(cli, books, books.one, books.two)
    code, text = cli("share-remove", "Team", "--to", f"vcard:{books.one}")
    assert code == 2  # not a terminal, no --yes: nothing happens
    assert "--yes" in capsys.readouterr().err
    assert len(texts(books.one)) == 4
    code, text = cli("share-remove", "Team", "--to", f"vcard:{books.one}", "--yes")
    assert code == 0, text
    assert "These 2 contacts the job made there are deleted:\n  - Ann\n  - Bob" in text
    assert "  - Mine" in text
    assert "2 copies deleted, 1 of its own contacts left 'Team' and stayed" in text
    left = texts(books.one)
    assert len(left) == 2
    assert "NOTE:mine" in the(books.one, "Own Ann")
    mine = the(books.one, "Mine")
    assert categories(mine) == set() and "mine@one.org" in mine  # out of the group, still there
    assert len(texts(books.two)) == 2  # the other destination goes on
    [job] = cli.json("shares")
    assert [d["to"] for d in job["destinations"]] == [f"vcard:{books.two}"]
    with Store(profile / "piesync.sqlite3") as store:
        events = store.share_events(store.share_job("Team").id or 0)
    actions = [e.action for e in events]
    assert actions[0] == "destination removed"
    assert sorted(e.name for e in events if e.action.startswith("deleted")) == ["Ann", "Bob"]
    assert [e.name for e in events if e.action.startswith("left the group")] == ["Mine"]
    code, text = cli("sync")
    assert code == 0 and len(texts(books.one)) == 2  # nothing of the job's comes back
    code, text = cli("share-remove", "Team")
    assert code == 2 and "--to" in capsys.readouterr().err  # it still has a destination
    code, text = cli("share-remove", "Team", "--to", f"vcard:{books.two}", "--yes")
    assert code == 0 and len(texts(books.two)) == 0
    code, text = cli("share-remove", "Team")
    assert code == 0 and "removed" in text and cli.json("shares") == []


def test_one_failing_destination_does_not_stop_the_others(cli, books):
    share(cli, books, books.one, books.two, books.three)
    books.two.rename(books.two.with_name("gone"))
    edit(books.ann, "TEL:+3225550101", "TEL:+3225550404")
    code, text = cli("sync")
    assert code == 1
    lines = {line.split(":", 1)[0]: line for line in text.splitlines()}
    assert "1 updated" in lines["Team → vCard folder 'one'"]
    assert "1 updated" in lines["Team → vCard folder 'three'"]
    assert str(books.two) in lines["Team → vCard folder 'two'"]  # says which folder is missing
    assert "+3225550404" in the(books.one, "Ann") and "+3225550404" in the(books.three, "Ann")


def test_the_job_runs_daily_and_sync_due_runs_only_what_is_due(cli, books, monkeypatch):
    share(cli, books, books.one)
    edit(books.ann, "TEL:+3225550101", "TEL:+3225550505")
    code, text = cli("sync", "--due")
    assert code == 0 and "Nothing is due." in text  # it ran a moment ago
    assert "+3225550101" in the(books.one, "Ann")
    later = time.time() + 24 * 3600 + 1
    clock = types.SimpleNamespace(time=lambda: later, monotonic=time.monotonic)
    monkeypatch.setattr("piesync_desktop.cli.time", clock)
    code, text = cli("sync", "--due")
    assert code == 0 and "1 updated" in text
    assert "+3225550505" in the(books.one, "Ann")
    code, text = cli("share", "Team", "--interval", "60")
    assert code == 0 and "every 60 minutes" in text
    assert cli.json("shares")[0]["interval_minutes"] == 60


def test_bad_input_is_one_clear_line_and_changes_nothing(cli, books, capsys):
    source, one = f"vcard:{books.source}", f"vcard:{books.one}"
    code, _ = cli("share", "Team", "--source", source, "--to", one)
    assert code == 2 and "--group" in capsys.readouterr().err
    code, _ = cli(
        "share",
        "Team",
        "--source",
        f"vcard:{books.source}",
        "--group",
        "Team",
        "--to",
        f"vcard:{books.one}",
        "--to",
        f"vcard:{books.source}",
    )
    assert code == 2 and "source" in capsys.readouterr().err
    assert cli.json("shares") == [] and len(texts(books.one)) == 2
    share(cli, books, books.one)
    code, _ = cli("remove", "Team → vCard folder 'one'")
    assert code == 2 and "share-remove" in capsys.readouterr().err
    code, _ = cli("share-remove", "Team", "--to", f"vcard:{books.two}", "--yes")
    assert code == 2 and "not a destination" in capsys.readouterr().err


def test_health_of_a_job_names_the_reference_tag_each_destination_and_the_timeline(cli, books):
    share(cli, books, books.one, books.two)
    code, text = cli("health", "Team")
    assert code == 0
    assert "carries the tag 'gSync1'. Leave it on them" in text
    assert f"vcard:{books.one}: 4 in sync, 0 failing; last sync" in text
    assert "destination added" in text
    code, text = cli("health", "Team → vCard folder 'two'")
    assert code == 0 and "carries the category 'gSync1'" in text
    data = cli.json("health", "Team")
    assert data["job"]["group"] == "Team"
    assert [d["to"] for d in data["destinations"]] == [f"vcard:{books.one}", f"vcard:{books.two}"]
    assert [e["action"] for e in data["timeline"]] == ["destination added"] * 2
