"""Share jobs in the engine: what the CLI tests cannot reach (an app refusing part of a removal)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from piesync_desktop.engine import share
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.model import WriteResult
from piesync_desktop.engine.schedule import due_connections
from piesync_desktop.engine.store import Store

CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:;{name};;;\r\n{extra}END:VCARD\r\n"
)


def card(folder: Path, uid: str, name: str, extra: str = "") -> None:
    text = CARD.format(uid=uid, name=name, extra=extra)
    (folder / f"{uid}.vcf").write_bytes(text.encode())


class Refusing(VCardDir):
    """A folder whose deletes of the named files fail, as an app refusing them would."""

    def __init__(self, location: str, refused: set[str]) -> None:
        super().__init__(location)
        self.refused = refused

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        allowed = [i for i in ids if i not in self.refused]
        results = super().delete(allowed)
        return results + [
            WriteResult(key=i, id=i, error="locked by its owner") for i in ids if i in self.refused
        ]


@pytest.fixture
def job(tmp_path: Path, store: Store):
    source, dest = tmp_path / "source", tmp_path / "dest"
    source.mkdir()
    dest.mkdir()
    card(source, "ann", "Ann", "CATEGORIES:Team\r\n")
    card(source, "bob", "Bob", "CATEGORIES:Team\r\n")
    card(dest, "own", "Own", "CATEGORIES:Team\r\n")
    made = share.create_job(store, "Team", f"vcard:{source}", "Team")
    destination = share.add_destination(store, made, f"vcard:{dest}")
    locks = AccountLocks(tmp_path / "locks")
    [outcome] = share.run_destinations(store, [destination], locks)
    assert outcome.error is None and outcome.summary and outcome.summary.created["b"] == 2
    return made, destination, dest, locks


def test_a_removal_the_app_refuses_in_part_stays_paused_and_is_finished_later(store, job):
    made, destination, dest, locks = job
    plan = share.plan_removal(store, made, destination, VCardDir(str(dest)))
    assert [c.name for c in plan.copies] == ["Ann", "Bob"] and [k.name for k in plan.kept] == [
        "Own"
    ]
    bob = next(c.rid for c in plan.copies if c.name == "Bob")
    result = share.carry_out_removal(store, plan, Refusing(str(dest), {bob}), locks)
    assert (
        not result.complete
        and "'Bob' could not be deleted: locked by its owner." in result.problems
    )
    assert [d.name for d in result.deleted] == ["Ann"] and [k.name for k in result.kept] == ["Own"]
    assert sorted(p.name for p in dest.glob("*.vcf")) == sorted([bob, "own.vcf"])
    kept = store.connection(destination.name)
    assert kept.paused  # never synced again while half removed
    assert due_connections(store, 10**12) == []
    events = store.share_events(made.id or 0)
    assert events[0].action == share.INCOMPLETE and "Bob" in events[0].detail
    assert [e.name for e in events if e.action == share.DELETED] == ["Ann"]

    again = share.plan_removal(store, made, kept, VCardDir(str(dest)))
    assert [c.name for c in again.copies] == ["Bob"] and again.kept == []  # Own left already
    result = share.carry_out_removal(store, again, VCardDir(str(dest)), locks)
    assert result.complete and [d.name for d in result.deleted] == ["Bob"]
    assert [p.name for p in dest.glob("*.vcf")] == ["own.vcf"]
    assert "CATEGORIES" not in (dest / "own.vcf").read_text()
    assert store.job_destinations(made.id or 0) == []
    assert store.share_events(made.id or 0)[0].action == share.REMOVED


def test_a_job_is_due_again_after_its_interval_and_only_then(store, job):
    made, destination, _dest, _locks = job
    started = store.last_run_times()[destination.id or 0]
    assert due_connections(store, started + 24 * 3600 - 1) == []
    assert [c.name for c in due_connections(store, started + 24 * 3600)] == [destination.name]
    store.set_share_interval(made.id or 0, 60)
    assert [c.name for c in due_connections(store, started + 3600)] == [destination.name]
    assert store.share_job("Team").interval_minutes == 60
