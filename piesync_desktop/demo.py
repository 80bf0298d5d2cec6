"""The throwaway profile behind ``piesync-desktop --demo``: two sample vCard address books and one
connection between them, arranged so a newcomer sees every part of the program at work.

The two books share most people, and hold on purpose: contacts only on one side (created on the
other), contacts without email (excluded), two contacts with one email (a duplicate), a conflict
(the same person edited differently on both sides since the last sync, settled by the winning app)
and a contact deleted on one side (tagged 'PieSync Trash' on the other). It uses the engine only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from piesync_desktop import paths
from piesync_desktop.engine.connection import ConnectionSettings, Direction, Side
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.connectors.vcard_codec import new_card
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.mapping import default_mappings
from piesync_desktop.engine.model import Item
from piesync_desktop.engine.rules import default_rules
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync

DEMO_CONNECTION = "Demo: work and phone"

_GIVEN = [
    "Anna",
    "Bram",
    "Chloé",
    "Dirk",
    "Émile",
    "Fatima",
    "Gert",
    "Hanna",
    "Iris",
    "Jan",
    "Katarzyna",
    "Lars",
    "Mei",
    "Noah",
    "Olga",
    "Pieter",
    "Quinten",
    "Rosa",
    "Sven",
    "Tomás",
    "Ursula",
    "Vincent",
    "Wiebke",
    "Xavier",
    "Yara",
    "Zoë",
    "Ahmed",
    "Björn",
    "Céline",
    "Dmitri",
]
_FAMILY = (
    "Jansen",
    "de Vries",
    "Müller",
    "Dubois",
    "Kowalski",
    "Novák",
    "Nguyen",
    "O'Brien",
    "Rossi",
    "García",
    "Smith",
    "Tanaka",
    "van den Berg",
    "Peeters",
    "Janssens",
    "Schmidt",
    "Lefèvre",
    "Andersson",
    "Horváth",
    "Costa",
)
_COMPANIES = ("Acme BV", "Tulip Logistics", "Noordzee Bakery", "Studio Kiem", "Brightwave", "")
_TITLES = ("Sales manager", "Engineer", "Designer", "Accountant", "Founder", "")
_TAGS = ("Customers", "Suppliers", "Friends", "Family", "Newsletter")


@dataclass(frozen=True, slots=True)
class DemoProfile:
    """Where the demo lives: its profile, its two folders and its connection."""

    profile: Path
    folder_a: Path
    folder_b: Path
    connection: str = DEMO_CONNECTION


def _person(rng: random.Random, number: int, email: bool = True) -> dict:
    given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
    fields: dict = {"given_name": given, "family_name": family}
    if email:
        local = f"{given}.{family}".lower().replace(" ", "").replace("'", "")
        fields["emails"] = (Item("work", f"{local}.{number}@example.org"),)
    fields["phones"] = (Item("mobile", f"+31 6 {rng.randint(10_000_000, 99_999_999)}"),)
    company, title = rng.choice(_COMPANIES), rng.choice(_TITLES)
    if company:
        fields["company"] = company
    if title:
        fields["title"] = title
    return fields


def _write(folder: Path, uid: str, fields: dict, tags: frozenset[str] = frozenset()) -> None:
    (folder / f"{uid}.vcf").write_text(new_card(uid, fields, tags), encoding="utf-8", newline="")


def write_address_books(folder_a: Path, folder_b: Path, people: int = 300, seed: int = 7) -> None:
    """Two overlapping books: ``people`` in A, about two thirds of them also in B, and the rest."""
    rng = random.Random(seed)
    folder_a.mkdir(parents=True, exist_ok=True)
    folder_b.mkdir(parents=True, exist_ok=True)
    for number in range(people):
        fields = _person(rng, number)
        if number == 2:
            fields["title"] = "Engineer"  # the conflict below edits it on both sides
        tags = frozenset(rng.sample(_TAGS, rng.randint(0, 2)))
        _write(folder_a, f"work-{number}", fields, tags)
        if number % 3:
            phone_copy = dict(fields)
            if number % 7 == 0:
                phone_copy.pop("company", None)  # blanks are filled at the first meeting
            _write(folder_b, f"phone-{number}", phone_copy)
    for number in range(people, people + 40):  # only on the phone
        _write(folder_b, f"phone-{number}", _person(rng, number))
    for number in range(6):  # no email: excluded while Avoid Duplicates is on
        _write(folder_a, f"work-noemail-{number}", _person(rng, 1000 + number, email=False))
        _write(folder_b, f"phone-noemail-{number}", _person(rng, 2000 + number, email=False))
    twin = _person(rng, 1)  # the same email as work-1: a duplicate inside A
    twin["given_name"] = "Second card for"
    _write(folder_a, "work-duplicate-1", {**twin, "emails": _read_emails(folder_a, "work-1")})


def _read_emails(folder: Path, uid: str) -> tuple[Item, ...]:
    text = (folder / f"{uid}.vcf").read_text(encoding="utf-8")
    email = next(line.split(":", 1)[1] for line in text.splitlines() if line.startswith("EMAIL"))
    return (Item("home", email.strip()),)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(old, new, 1), encoding="utf-8", newline="")


def build_demo(profile: Path, people: int = 300) -> DemoProfile:
    """Make the demo profile: books, connection, a first sync, then a conflict and a deletion
    for the program's own first sync (at start) to settle."""
    folder_a, folder_b = profile / "demo-work", profile / "demo-phone"
    write_address_books(folder_a, folder_b, people)
    settings = ConnectionSettings(
        name=DEMO_CONNECTION,
        a_spec=f"vcard:{folder_a}",
        b_spec=f"vcard:{folder_b}",
        direction=Direction.TWO_WAY,
        winner=Side.A,
        sync_deletions=True,
    )
    connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
    for connector in connectors.values():
        connector.open()
    settings.mappings = default_mappings(
        connectors["a"].schema(), connectors["b"].schema(), True, True
    )
    settings.rules = default_rules()
    with Store(paths.store_path(profile)) as store:
        a_account = store.ensure_account("vcard", connectors["a"].account_key, str(folder_a))
        b_account = store.ensure_account("vcard", connectors["b"].account_key, str(folder_b))
        store.add_connection(settings, a_account, b_account)
        run_sync(
            store,
            store.connection(DEMO_CONNECTION),
            connectors,
            AccountLocks(paths.locks_dir(profile)),
        )
    # Since that sync: the same person's title changed on both sides (A, the winner, wins),
    # and one contact was deleted from the phone (its work copy gets 'PieSync Trash').
    _edit(folder_a / "work-2.vcf", "TITLE:", "TITLE:Head of ")
    _edit(folder_b / "phone-2.vcf", "TITLE:", "TITLE:Former ")
    (folder_b / "phone-4.vcf").unlink()
    return DemoProfile(profile, folder_a, folder_b)
