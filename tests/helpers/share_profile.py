"""A profile with a share job over vCard folders, made through the engine as the CLI's share does:
a source folder whose 'Team' group has two people (and one contact outside it), and two
destination folders, the first holding a contact of its own already in 'Team'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from piesync_desktop import paths
from piesync_desktop.engine import share
from piesync_desktop.engine.connectors.vcard_codec import new_card
from piesync_desktop.engine.model import Item
from piesync_desktop.engine.store import Store

JOB = "Team list"
GROUP = "Team"


@dataclass(frozen=True, slots=True)
class ShareProfile:
    """Where everything of the share job's profile is."""

    profile: Path
    source: Path
    first: Path  # a destination with a contact of its own in the group
    second: Path
    job: str
    destinations: tuple[str, ...]  # the destinations' connections, as added

    @property
    def store_path(self) -> Path:
        return paths.store_path(self.profile)

    def spec(self, folder: Path) -> str:
        return f"vcard:{folder}"


def write_card(folder: Path, uid: str, given: str, family: str, tags: set[str]) -> None:
    email = f"{given.lower()}@{family.lower()}.example"
    fields = {"given_name": given, "family_name": family, "emails": (Item("work", email),)}
    (folder / f"{uid}.vcf").write_text(new_card(uid, fields, frozenset(tags)), newline="")


def cards(folder: Path) -> dict[str, str]:
    """The folder's cards: file name -> text."""
    return {path.name: path.read_text() for path in sorted(folder.glob("*.vcf"))}


def build_share_profile(profile: Path, destinations: int = 2) -> ShareProfile:
    """The job saved with ``destinations`` destinations, none of them run yet."""
    root = profile.parent
    source, first, second = root / "team-source", root / "ann-phone", root / "bob-laptop"
    for folder in (source, first, second):
        folder.mkdir()
    write_card(source, "ann", "Ann", "Lee", {GROUP})
    write_card(source, "bob", "Bob", "Ray", {GROUP})
    write_card(source, "cy", "Cy", "Outside", set())
    write_card(first, "olga", "Olga", "Own", {GROUP})
    names = []
    with Store(paths.store_path(profile)) as store:
        job = share.create_job(store, JOB, f"vcard:{source}", GROUP)
        for folder in (first, second)[:destinations]:
            names.append(share.add_destination(store, job, f"vcard:{folder}").name)
    return ShareProfile(profile, source, first, second, JOB, tuple(names))


def shoot(widget, name: str, folder: Path) -> Path:
    """Save a picture of ``widget`` in ``folder``, and in $PIESYNC_SCREENSHOTS when it is set."""
    import os
    import shutil

    path = folder / name
    assert widget.grab().save(str(path)), f"could not save {path}"
    kept = os.environ.get("PIESYNC_SCREENSHOTS")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(kept) / name)
    return path
