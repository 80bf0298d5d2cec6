"""Generate a vdir of realistic contacts for the benchmarks, and edit a fraction of them.

A vdir is a folder with one contact per ``<uid>.vcf`` file. Each file written here is a vCard 3.0
with CRLF line ends, values escaped (backslash, comma, semicolon, newline) and lines folded at 75
octets without splitting a UTF-8 character. The contacts have names in several scripts (with
accents, particles such as "van der" and suffixes), one to three emails that are unique across
the corpus, one to three typed phones, up to two typed addresses, an organisation and a title, a
note (some over several lines, with commas and semicolons), categories from a small pool, and a
few carry a small base64 PNG photo.

Contact number ``i`` depends only on ``seed`` and ``i``, so ``generate(d, 10, s)`` followed by
``generate(d, 10, s, start=10)`` writes the same files as ``generate(d, 20, s)``.

As a script: ``python bench/generate.py DIR N [--seed S] [--start K]``.
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import struct
import sys
import time
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CRLF = "\r\n"
FOLD_OCTETS = 75


# ---------------------------------------------------------------------------
# Pools. Each name is (as written, ASCII form used in email addresses).
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Culture:
    """Names, places and phone shape of one region; ``family_first`` puts the family name first."""

    given: tuple[tuple[str, str], ...]
    family: tuple[tuple[str, str], ...]
    cities: tuple[tuple[str, str, str], ...]  # (city, region, postal code)
    streets: tuple[str, ...]
    country: str
    phone_prefix: str
    domains: tuple[str, ...]
    family_first: bool = False
    joiner: str = " "
    particles: tuple[tuple[str, str], ...] = ()


CULTURES: tuple[Culture, ...] = (
    Culture(
        given=(
            ("Jan", "jan"),
            ("Sanne", "sanne"),
            ("Pieter", "pieter"),
            ("Anouk", "anouk"),
            ("Geert", "geert"),
            ("Ilse", "ilse"),
            ("Maarten", "maarten"),
            ("Eline", "eline"),
        ),
        family=(
            ("Berg", "berg"),
            ("Dijk", "dijk"),
            ("Meer", "meer"),
            ("Bakker", "bakker"),
            ("Vries", "vries"),
            ("Jansen", "jansen"),
            ("Hoek", "hoek"),
            ("Smit", "smit"),
        ),
        cities=(
            ("Amsterdam", "Noord-Holland", "1012 AB"),
            ("Utrecht", "Utrecht", "3511 CE"),
            ("Groningen", "Groningen", "9711 LM"),
        ),
        streets=("Prinsengracht", "Oudegracht", "Herestraat", "Kerkstraat"),
        country="Nederland",
        phone_prefix="+31 6",
        domains=("ziggo.nl", "kpnmail.nl", "xs4all.nl"),
        particles=(("van der", "vander"), ("van", "van"), ("de", "de"), ("van den", "vanden")),
    ),
    Culture(
        given=(
            ("Émilie", "emilie"),
            ("François", "francois"),
            ("Hélène", "helene"),
            ("Jérôme", "jerome"),
            ("Anaïs", "anais"),
            ("Gaël", "gael"),
            ("Océane", "oceane"),
            ("Loïc", "loic"),
        ),
        family=(
            ("Lefèvre", "lefevre"),
            ("Girard", "girard"),
            ("Château", "chateau"),
            ("Bénard", "benard"),
            ("Fournier", "fournier"),
            ("Mercier", "mercier"),
            ("Rousseau", "rousseau"),
            ("Évrard", "evrard"),
        ),
        cities=(
            ("Paris", "Île-de-France", "75011"),
            ("Lyon", "Auvergne-Rhône-Alpes", "69002"),
            ("Besançon", "Bourgogne-Franche-Comté", "25000"),
        ),
        streets=(
            "rue de l'Église",
            "boulevard Saint-Germain",
            "avenue des Champs-Élysées",
            "place du Marché",
        ),
        country="France",
        phone_prefix="+33 6",
        domains=("orange.fr", "free.fr", "laposte.net"),
        particles=(("de", "de"), ("du", "du"), ("de la", "dela")),
    ),
    Culture(
        given=(
            ("Jürgen", "juergen"),
            ("Käthe", "kaethe"),
            ("Björn", "bjoern"),
            ("Lena", "lena"),
            ("Günther", "guenther"),
            ("Jörg", "joerg"),
            ("Anneliese", "anneliese"),
            ("Ute", "ute"),
        ),
        family=(
            ("Müller", "mueller"),
            ("Schröder", "schroeder"),
            ("Weiß", "weiss"),
            ("Groß", "gross"),
            ("Köhler", "koehler"),
            ("Hoffmann", "hoffmann"),
            ("Schäfer", "schaefer"),
            ("Braun", "braun"),
        ),
        cities=(
            ("München", "Bayern", "80331"),
            ("Köln", "Nordrhein-Westfalen", "50667"),
            ("Düsseldorf", "Nordrhein-Westfalen", "40213"),
        ),
        streets=("Hauptstraße", "Schloßallee", "Königsweg", "Bahnhofstraße"),
        country="Deutschland",
        phone_prefix="+49 151",
        domains=("web.de", "gmx.de", "t-online.de"),
        particles=(("von", "von"), ("von der", "vonder"), ("zu", "zu")),
    ),
    Culture(
        given=(
            ("Łukasz", "lukasz"),
            ("Małgorzata", "malgorzata"),
            ("Wojciech", "wojciech"),
            ("Zofia", "zofia"),
            ("Jiří", "jiri"),
            ("Kateřina", "katerina"),
            ("Bożena", "bozena"),
            ("Tomáš", "tomas"),
        ),
        family=(
            ("Wiśniewski", "wisniewski"),
            ("Żółkiewska", "zolkiewska"),
            ("Nowak", "nowak"),
            ("Dvořák", "dvorak"),
            ("Kowalczyk", "kowalczyk"),
            ("Szczęsny", "szczesny"),
            ("Novotný", "novotny"),
            ("Černá", "cerna"),
        ),
        cities=(
            ("Kraków", "Małopolskie", "31-042"),
            ("Łódź", "Łódzkie", "90-001"),
            ("Praha", "Hlavní město Praha", "110 00"),
        ),
        streets=("ulica Floriańska", "Świętokrzyska", "Václavské náměstí", "Žitná"),
        country="Polska",
        phone_prefix="+48 501",
        domains=("wp.pl", "onet.pl", "seznam.cz"),
    ),
    Culture(
        given=(
            ("Αλέξανδρος", "alexandros"),
            ("Ελένη", "eleni"),
            ("Δημήτρης", "dimitris"),
            ("Σοφία", "sofia"),
        ),
        family=(
            ("Παπαδόπουλος", "papadopoulos"),
            ("Οικονόμου", "oikonomou"),
            ("Γεωργίου", "georgiou"),
            ("Νικολάου", "nikolaou"),
        ),
        cities=(("Αθήνα", "Αττική", "105 57"), ("Θεσσαλονίκη", "Κεντρική Μακεδονία", "546 21")),
        streets=("Οδός Ερμού", "Λεωφόρος Συγγρού", "Οδός Αιόλου"),
        country="Ελλάδα",
        phone_prefix="+30 69",
        domains=("otenet.gr", "gmail.com"),
    ),
    Culture(
        given=(
            ("Алексей", "aleksei"),
            ("Наталья", "natalya"),
            ("Дмитрий", "dmitry"),
            ("Ольга", "olga"),
            ("Сергей", "sergei"),
            ("Юлия", "yulia"),
        ),
        family=(
            ("Иванов", "ivanov"),
            ("Смирнова", "smirnova"),
            ("Кузнецов", "kuznetsov"),
            ("Попова", "popova"),
            ("Лебедев", "lebedev"),
            ("Щербакова", "shcherbakova"),
        ),
        cities=(("Москва", "Москва", "101000"), ("Санкт-Петербург", "Санкт-Петербург", "190000")),
        streets=("улица Арбат", "Невский проспект", "Тверская улица"),
        country="Россия",
        phone_prefix="+7 916",
        domains=("yandex.ru", "mail.ru"),
    ),
    Culture(
        given=(
            ("太郎", "taro"),
            ("花子", "hanako"),
            ("健", "ken"),
            ("美咲", "misaki"),
            ("翔太", "shota"),
            ("由美", "yumi"),
        ),
        family=(
            ("山田", "yamada"),
            ("佐藤", "sato"),
            ("鈴木", "suzuki"),
            ("高橋", "takahashi"),
            ("渡辺", "watanabe"),
            ("伊藤", "ito"),
        ),
        cities=(("東京都", "東京", "100-0001"), ("大阪市", "大阪府", "530-0001")),
        streets=("千代田1-1", "梅田3-2-1", "銀座4丁目"),
        country="日本",
        phone_prefix="+81 90",
        domains=("docomo.ne.jp", "yahoo.co.jp"),
        family_first=True,
        joiner="",
    ),
    Culture(
        given=(("伟", "wei"), ("芳", "fang"), ("静", "jing"), ("磊", "lei"), ("秀英", "xiuying")),
        family=(("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen")),
        cities=(("北京市", "北京", "100000"), ("上海市", "上海", "200000")),
        streets=("长安街1号", "南京路100号", "中山路8号"),
        country="中国",
        phone_prefix="+86 139",
        domains=("qq.com", "163.com"),
        family_first=True,
        joiner="",
    ),
    Culture(
        given=(("محمد", "mohammed"), ("فاطمة", "fatima"), ("أحمد", "ahmed"), ("ليلى", "layla")),
        family=(
            ("الحسن", "alhassan"),
            ("العلي", "alali"),
            ("منصور", "mansour"),
            ("حداد", "haddad"),
        ),
        cities=(("القاهرة", "القاهرة", "11511"), ("دبي", "دبي", "00000")),
        streets=("شارع التحرير", "شارع الشيخ زايد"),
        country="مصر",
        phone_prefix="+20 10",
        domains=("gmail.com", "hotmail.com"),
    ),
    Culture(
        given=(("Văn An", "an"), ("Thị Hương", "huong"), ("Minh Đức", "duc"), ("Thảo", "thao")),
        family=(("Nguyễn", "nguyen"), ("Trần", "tran"), ("Lê", "le"), ("Phạm", "pham")),
        cities=(("Hà Nội", "Hà Nội", "100000"), ("Thành phố Hồ Chí Minh", "Hồ Chí Minh", "700000")),
        streets=("Phố Hàng Bạc", "Đường Lê Lợi"),
        country="Việt Nam",
        phone_prefix="+84 91",
        domains=("gmail.com", "vnn.vn"),
        family_first=True,
    ),
    Culture(
        given=(
            ("John", "john"),
            ("Mary", "mary"),
            ("Seán", "sean"),
            ("Siobhán", "siobhan"),
            ("Zoë", "zoe"),
            ("Chloé", "chloe"),
            ("Robert", "robert"),
            ("Renée", "renee"),
        ),
        family=(
            ("O'Brien", "obrien"),
            ("Smith", "smith"),
            ("MacDonald", "macdonald"),
            ("Johnson", "johnson"),
            ("Ó Súilleabháin", "osullivan"),
            ("Brontë", "bronte"),
            ("Williams", "williams"),
            ("García", "garcia"),
        ),
        cities=(
            ("Dublin", "Leinster", "D02 X285"),
            ("Boston", "MA", "02108"),
            ("London", "Greater London", "SW1A 1AA"),
        ),
        streets=("Main Street", "5th Avenue, Apt. 12", "Baker Street; Flat B"),
        country="USA",
        phone_prefix="+1 617",
        domains=("gmail.com", "outlook.com", "icloud.com", "yahoo.com"),
    ),
)

PREFIXES = ("Dr.", "Mrs.", "Mr.", "Prof.", "Ms.")
SUFFIXES = ("Jr.", "Sr.", "III", "PhD", "MD")
ORGS = (
    "Acme, Inc.",
    "Globex GmbH",
    "Initech; Research",
    "Müller & Söhne KG",
    "Société Générale",
    "株式会社サンプル",
    "ООО «Ромашка»",
    "Umbrella Corp.",
    "Stark Industries",
    "Hooli",
    "Vandelay Industries",
    "Wayne Enterprises",
    "Tyrell Corporation",
    "Oceanic Airlines",
)
TITLES = (
    "Engineer",
    "Senior Engineer",
    "Sales Manager",
    "CEO",
    "Directrice commerciale",
    "Geschäftsführer",
    "Product Owner",
    "Accountant",
    "Designer, UX",
    "Head of R&D; Europe",
    "Менеджер",
    "営業部長",
    "Nurse",
    "Teacher",
    "Consultant",
)
CATEGORIES = ("Friends", "Family", "Work", "VIP", "Clients", "Suppliers", "Book club", "Équipe")
NOTE_LINES = (
    "Met at the conference in Lyon, 2019; likes jazz.",
    "Prefers email over phone, please.",
    "Birthday party: bring cake; no nuts!",
    "Allergic to shellfish, peanuts; vegetarian.",
    "Call after 6 p.m. (weekdays), or weekends.",
    "Kids: Emma, Noah; dog: Bruno.",
    "Owes me a book – «Le Petit Prince».",
    "Path on the share: \\\\server\\contacts\\notes.txt",
    "日本語のメモ、よろしくお願いします。",
    "Заметка: перезвонить в понедельник; важно.",
    "Ask about the project, budget, and timeline.",
)
PHONE_TYPES = ("CELL", "WORK", "HOME")
EMAIL_TYPES = ("HOME", "WORK", "OTHER")
ADR_TYPES = ("HOME", "WORK")
PHOTO_SHARE = 0.03


# ---------------------------------------------------------------------------
# vCard text helpers
# ---------------------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", ";": "\\;", "\n": "\\n"})


def escape(value: str) -> str:
    """Escape a TEXT value for vCard 3.0 (backslash, comma, semicolon, newline)."""
    return value.replace("\r\n", "\n").translate(_ESCAPES)


def structured(parts: Iterable[str]) -> str:
    """Join the components of a structured value (N, ADR) with ``;``, each escaped."""
    return ";".join(escape(part) for part in parts)


def fold(line: str) -> str:
    """Fold one content line at 75 octets, never inside a UTF-8 character; CRLF-terminated."""
    data = line.encode("utf-8")
    if len(data) <= FOLD_OCTETS:
        return line + CRLF
    chunks: list[bytes] = []
    start, limit = 0, FOLD_OCTETS
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte: back up
            end -= 1
        chunks.append(data[start:end])
        start, limit = end, FOLD_OCTETS - 1  # continuation lines start with a space
    chunks.append(data[start:])
    return (CRLF + " ").join(chunk.decode("utf-8") for chunk in chunks) + CRLF


def unfold(text: str) -> list[str]:
    """Split vCard text into logical lines, undoing folding (CRLF or bare LF)."""
    text = text.replace("\r\n", "\n")
    text = re.sub(r"\n[ \t]", "", text)
    return [line for line in text.split("\n") if line]


def _png(rng: random.Random, size: int = 8) -> bytes:
    """A tiny valid RGB PNG with random pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + rng.randbytes(size * 3) for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------
# One contact
# ---------------------------------------------------------------------------


def contact_uid(seed: int, index: int) -> str:
    """The UID of contact ``index`` for ``seed`` (a UUID, stable across runs)."""
    return str(uuid.UUID(int=random.Random(f"uid:{seed}:{index}").getrandbits(128), version=4))


def _name_lines(rng: random.Random, culture: Culture) -> tuple[list[str], str, str]:
    """FN and N lines, plus the ASCII given and family names for email addresses."""
    given, given_ascii = rng.choice(culture.given)
    family, family_ascii = rng.choice(culture.family)
    if culture.particles and rng.random() < 0.35:
        particle, particle_ascii = rng.choice(culture.particles)
        family, family_ascii = f"{particle} {family}", particle_ascii + family_ascii
    prefix = rng.choice(PREFIXES) if rng.random() < 0.1 else ""
    suffix = rng.choice(SUFFIXES) if rng.random() < 0.08 else ""
    middle = ""
    if not culture.family_first and rng.random() < 0.15:
        middle = rng.choice(culture.given)[0]
    if culture.family_first:
        core = f"{family}{culture.joiner}{given}"
    else:
        core = " ".join(part for part in (given, middle, family) if part)
    formatted = " ".join(part for part in (prefix, core) if part)
    if suffix:
        formatted = f"{formatted}, {suffix}" if suffix in ("PhD", "MD") else f"{formatted} {suffix}"
    lines = [f"FN:{escape(formatted)}", f"N:{structured((family, given, middle, prefix, suffix))}"]
    return lines, given_ascii, family_ascii


def _email_lines(
    rng: random.Random, culture: Culture, given: str, family: str, index: int
) -> list[str]:
    """1-3 emails, unique across the corpus thanks to ``index``, some in mixed case."""
    lines = []
    shapes = (f"{given}.{family}", f"{given[0]}{family}", f"{family}.{given}", f"{given}_{family}")
    for number in range(rng.choice((1, 1, 2, 2, 3))):
        local = f"{shapes[(index + number) % len(shapes)]}{index}"
        if number:
            local = f"{local}.{number}"
        address = f"{local}@{rng.choice(culture.domains)}"
        if rng.random() < 0.2:
            local = local.title() if rng.random() < 0.5 else local.upper()
            address = f"{local}@{address.split('@', 1)[1]}"
        kind = rng.choice(EMAIL_TYPES)
        pref = ",PREF" if number == 0 and rng.random() < 0.3 else ""
        lines.append(f"EMAIL;TYPE=INTERNET,{kind}{pref}:{address}")
    return lines


def _phone(rng: random.Random, culture: Culture) -> str:
    """A phone number in one of a few common shapes."""
    digits = "".join(str(rng.randrange(10)) for _ in range(8))
    shape = rng.randrange(3)
    if shape == 0:
        return f"{culture.phone_prefix} {digits[:4]} {digits[4:]}"
    if shape == 1:
        return f"{culture.phone_prefix.replace(' ', '')}{digits}"
    return f"{culture.phone_prefix} ({digits[:2]}) {digits[2:5]}-{digits[5:]}"


def _phone_lines(rng: random.Random, culture: Culture) -> list[str]:
    kinds = rng.sample(PHONE_TYPES, rng.choice((1, 1, 2, 2, 3)))
    lines = []
    for kind in kinds:
        extra = ",VOICE" if kind != "CELL" and rng.random() < 0.3 else ""
        lines.append(f"TEL;TYPE={kind}{extra}:{_phone(rng, culture)}")
    return lines


def _address_lines(rng: random.Random, culture: Culture) -> list[str]:
    lines = []
    for kind in rng.sample(ADR_TYPES, rng.choice((0, 1, 1, 2))):
        city, region, postal = rng.choice(culture.cities)
        street = f"{rng.choice(culture.streets)} {rng.randrange(1, 300)}"
        extended = f"Apt. {rng.randrange(1, 40)}" if rng.random() < 0.2 else ""
        parts = ("", extended, street, city, region, postal, culture.country)
        lines.append(f"ADR;TYPE={kind}:{structured(parts)}")
    return lines


def _note_line(rng: random.Random) -> list[str]:
    if rng.random() < 0.4:
        return []
    count = rng.choice((1, 1, 2, 3))
    return [f"NOTE:{escape(chr(10).join(rng.sample(NOTE_LINES, count)))}"]


def _categories_line(rng: random.Random) -> list[str]:
    if rng.random() < 0.3:
        return []
    picked = sorted(rng.sample(CATEGORIES, rng.choice((1, 1, 2, 3))))
    return ["CATEGORIES:" + ",".join(escape(category) for category in picked)]


def contact(seed: int, index: int) -> tuple[str, str]:
    """Contact ``index`` for ``seed`` as (uid, vCard text with CRLF line ends)."""
    rng = random.Random(f"contact:{seed}:{index}")
    culture = rng.choice(CULTURES)
    uid = contact_uid(seed, index)
    names, given, family = _name_lines(rng, culture)
    lines = ["BEGIN:VCARD", "VERSION:3.0", "PRODID:-//piesync-desktop//bench generator//EN"]
    lines += [f"UID:{uid}", *names]
    lines += _email_lines(rng, culture, given, family, index)
    lines += _phone_lines(rng, culture)
    lines += _address_lines(rng, culture)
    lines.append(f"ORG:{escape(rng.choice(ORGS))}")
    lines.append(f"TITLE:{escape(rng.choice(TITLES))}")
    lines += _note_line(rng)
    lines += _categories_line(rng)
    if rng.random() < PHOTO_SHARE:
        photo = base64.b64encode(_png(rng)).decode("ascii")
        lines.append(f"PHOTO;ENCODING=b;TYPE=PNG:{photo}")
    stamp = 1_600_000_000 + rng.randrange(100_000_000)
    lines.append(f"REV:{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(stamp))}")
    lines.append("END:VCARD")
    return uid, "".join(fold(line) for line in lines)


# ---------------------------------------------------------------------------
# Folder-level operations
# ---------------------------------------------------------------------------


def generate(folder: str | Path, n: int, seed: int = 0, start: int = 0) -> list[str]:
    """Write contacts ``start`` .. ``start + n - 1`` to ``folder`` as ``<uid>.vcf``; return UIDs."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    uids = []
    for index in range(start, start + n):
        uid, text = contact(seed, index)
        (root / f"{uid}.vcf").write_bytes(text.encode("utf-8"))
        uids.append(uid)
    return uids


@dataclass(frozen=True, slots=True)
class Edited:
    """One contact changed by :func:`edit_fraction`: its file, UID and email addresses."""

    path: Path
    uid: str | None
    emails: frozenset[str]

    def keys(self) -> frozenset[str]:
        """What identifies this contact on either side: its UID and its (lowercased) emails."""
        return self.emails | ({f"uid:{self.uid}"} if self.uid else set())


def _property(line: str) -> tuple[str, str]:
    """(upper-case property name without group or parameters, value) of an unfolded line."""
    head, _, value = line.partition(":")
    name = head.split(";", 1)[0].rsplit(".", 1)[-1].upper()
    return name, value


def _identity(path: Path, lines: Sequence[str]) -> Edited:
    uid, emails = None, set()
    for line in lines:
        name, value = _property(line)
        if name == "UID":
            uid = value
        elif name == "EMAIL":
            emails.add(value.strip().lower())
    return Edited(path, uid, frozenset(emails))


def _edit_lines(lines: list[str], field: str, marker: str, rng: random.Random) -> None:
    """Change ``field`` (TITLE or TEL) in the unfolded ``lines``; add a TITLE if there is none."""
    if field == "TEL":
        for position, line in enumerate(lines):
            if _property(line)[0] == "TEL":
                number = "+1 555 " + "".join(str(rng.randrange(10)) for _ in range(7))
                lines[position] = f"{line.partition(':')[0]}:{number}"
                return
    for position, line in enumerate(lines):
        if _property(line)[0] == "TITLE":
            lines[position] = f"TITLE:{marker}"
            return
    end = next(i for i, line in enumerate(lines) if line.upper() == "END:VCARD")
    lines.insert(end, f"TITLE:{marker}")


def _rewrite(path: Path, lines: Sequence[str], crlf: bool) -> None:
    """Write ``lines`` to ``path`` atomically (a new inode and mtime, as editors do)."""
    text = "".join(fold(line) if crlf else line + "\n" for line in lines)
    temporary = path.with_name(f".{path.name}.bench-tmp")
    temporary.write_bytes(text.encode("utf-8"))
    temporary.replace(path)


def edit_fraction(
    folder: str | Path,
    fraction: float,
    seed: int,
    field: str = "TITLE",
    exclude: Iterable[Edited] = (),
) -> list[Edited]:
    """Edit ``field`` in ``fraction`` of the .vcf files of ``folder``, in place; say which.

    Files are picked at random (deterministic for ``seed``), skipping any contact that shares
    a UID or an email address with one in ``exclude``, so the two sides of a pair can be edited
    on different contacts even when a sync tool gave the copies new UIDs. A TITLE edit writes
    ``bench edit <seed>-<k>``, which lets a caller check that it reached the other side; a TEL
    edit replaces the first phone number. Files keep their line ends (CRLF or LF).
    """
    if field not in ("TITLE", "TEL"):
        raise ValueError(f"field must be TITLE or TEL, not {field!r}")
    files = sorted(Path(folder).glob("*.vcf"))
    wanted = round(len(files) * fraction)
    excluded = frozenset().union(*(edit.keys() for edit in exclude))
    rng = random.Random(f"edit:{seed}")
    rng.shuffle(files)
    edited: list[Edited] = []
    for path in files:
        if len(edited) >= wanted:
            break
        raw = path.read_bytes()
        lines = unfold(raw.decode("utf-8"))
        identity = _identity(path, lines)
        if identity.keys() & excluded:
            continue
        _edit_lines(lines, field, f"bench edit {seed}-{len(edited)}", rng)
        _rewrite(path, lines, crlf=b"\r\n" in raw)
        edited.append(identity)
    return edited


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the vdir to write into (created if missing)")
    parser.add_argument("n", type=int, help="how many contacts to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--start", type=int, default=0, help="index of the first contact")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Script entry point: write N contacts into DIR and say how long it took."""
    args = _parse(argv)
    began = time.perf_counter()
    generate(args.folder, args.n, args.seed, args.start)
    elapsed = time.perf_counter() - began
    print(f"wrote {args.n} contacts to {args.folder} in {elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
