"""How many cards a second the vCard codec reads and writes, next to vobject (no assertions).

Run: .venv/bin/python bench/vcard_codec_speed.py [number-of-cards]
"""

from __future__ import annotations

import base64
import gc
import random
import sys
import time
from collections.abc import Callable

import vobject

from piesync_desktop.engine.connectors.vcard_codec import new_card, parse_card
from piesync_desktop.engine.model import Address, Item, Value

GIVEN = ["Anna", "Björn", "Chloé", "Dmitri", "Eve", "François", "Grace", "Hiro", "Ines", "José"]
FAMILY = ["Smith", "Müller", "O'Brien", "van der Berg", "Nakamura", "García", "Kowalski", "Lee"]


def typical_fields(rng: random.Random) -> tuple[dict[str, Value], frozenset[str]]:
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    user = f"{given}.{family}".lower().replace(" ", "").replace("'", "")
    fields: dict[str, Value] = {
        "full_name": f"{given} {family}",
        "given_name": given,
        "family_name": family,
        "emails": (Item("work", f"{user}@example.com"), Item("home", f"{user}@mail.example.org")),
        "phones": (Item("mobile", "+32 475 12 34 56"), Item("work", "+32 2 123 45 67")),
        "addresses": (
            Item("work", Address("", "", "Rue de la Loi 16", "Brussels", "", "1000", "Belgium")),
        ),
        "company": "Example, Inc.",
        "title": "Head of Sales",
        "notes": ("Met at the fair; likes coffee, cycling and long walks. " * 4)[:200],
    }
    return fields, frozenset({"Customers", "VIP"})


def typical_cards(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    photo = base64.b64encode(rng.randbytes(1536)).decode()
    cards = []
    for number in range(count):
        fields, tags = typical_fields(rng)
        card = new_card(f"uid-{number}", fields, tags)
        if number % 3 == 0:
            folded = "\r\n ".join(photo[i : i + 74] for i in range(0, len(photo), 74))
            card = card.replace("END:VCARD", f"PHOTO;ENCODING=b;TYPE=JPEG:{folded}\r\nEND:VCARD")
        cards.append(card)
    return cards


def rate(work: Callable[[], object], count: int, repeat: int = 3) -> float:
    """Cards per second of the best of ``repeat`` runs (the results are kept, as a sync keeps them,
    so the garbage collector's work on them is counted)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    cards = typical_cards(count)
    rng = random.Random(2)
    inputs = [typical_fields(rng) for _ in range(count)]
    few = cards[: max(1, count // 10)]
    parse = rate(lambda: [parse_card(card) for card in cards], count)
    write = rate(lambda: [new_card(f"u{i}", f, t) for i, (f, t) in enumerate(inputs)], count)
    vparse = rate(lambda: [vobject.readOne(card) for card in few], len(few), repeat=1)
    gc.disable()  # as VCardDir.changes does while it builds records
    paused = rate(lambda: [parse_card(card) for card in cards], count)
    gc.enable()
    print(f"parse_card      {parse:10,.0f} cards/s")
    print(f"  (collector paused: {paused:,.0f} cards/s)")
    print(f"new_card        {write:10,.0f} cards/s")
    print(f"vobject.readOne {vparse:10,.0f} cards/s")


if __name__ == "__main__":
    main()
