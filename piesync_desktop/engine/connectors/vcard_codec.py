"""A fast reader and writer of single vCards (2.1, 3.0 and 4.0) for the vCard folder connector.

vobject reads about 2,300 cards a second, too slow for an address book of 100,000 files that is
listed on every run, so this module reads only the properties the schema maps, skips the rest
(photos included) with a few string operations, and writes cards itself. Updates rewrite only
the properties an update names and keep every other line of the file byte for byte.
"""

from __future__ import annotations

import quopri
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from piesync_desktop.engine.model import Address, AppSchema, FieldSpec, FieldType, Item, Value

VCARD_SCHEMA = AppSchema.of(
    FieldSpec("full_name", "Full name"),
    FieldSpec("given_name", "First name"),
    FieldSpec("family_name", "Last name"),
    FieldSpec("middle_name", "Middle name"),
    FieldSpec("name_prefix", "Name prefix"),
    FieldSpec("name_suffix", "Name suffix"),
    FieldSpec("nickname", "Nickname"),
    FieldSpec("emails", "Email", FieldType.EMAIL, multi=True),
    FieldSpec("phones", "Phone", FieldType.PHONE, multi=True),
    FieldSpec("addresses", "Address", FieldType.ADDRESS, multi=True),
    FieldSpec("company", "Company"),
    FieldSpec("department", "Department"),
    FieldSpec("title", "Job title"),
    FieldSpec("birthday", "Birthday", FieldType.DATE),
    FieldSpec("notes", "Notes"),
    FieldSpec("urls", "Website", FieldType.URL, multi=True),
)

# The N components in their vCard order, by field key.
N_PARTS = ("family_name", "given_name", "middle_name", "name_prefix", "name_suffix")
ORG_PARTS = ("company", "department")
# Multi-valued fields and the property that carries them.
MULTI_PROPS = {"emails": "EMAIL", "phones": "TEL", "addresses": "ADR", "urls": "URL"}
SIMPLE_PROPS = {"full_name": "FN", "title": "TITLE", "notes": "NOTE", "birthday": "BDAY"}

PHONE_KINDS = {
    "cell": "mobile",
    "mobile": "mobile",
    "fax": "fax",
    "pager": "pager",
    "home": "home",
    "work": "work",
    "main": "main",
}
_PHONE_KIND_ORDER = ("cell", "mobile", "fax", "pager", "home", "work", "main")
_KIND_TYPES = {
    "mobile": "CELL",
    "fax": "FAX",
    "pager": "PAGER",
    "home": "HOME",
    "work": "WORK",
    "main": "MAIN",
}
# Properties that may carry binary data whose vCard 2.1 continuation lines lack indentation.
_BINARY_PROPS = frozenset({"PHOTO", "LOGO", "SOUND", "KEY"})
_UNESCAPES = {"n": "\n", "N": "\n", "\\": "\\", ",": ",", ";": ";", ":": ":", '"': '"'}
_ESCAPE_OR_SEP = {sep: re.compile(r"\\.|" + re.escape(sep), re.S) for sep in (";", ",")}
_ESCAPE = re.compile(r"\\.", re.S)
_SIMPLE_UNESCAPES = tuple(("\\" + c, plain) for c, plain in _UNESCAPES.items() if c != "\\")
_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?:T.*)?", re.S)
_NO_YEAR = re.compile(r"--(\d{2})-?(\d{2})")


class VCardError(ValueError):
    """A card that cannot be read; ``reason`` says why in a few words a person understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class ParsedCard:
    """The mapped content of one card, in :data:`VCARD_SCHEMA` keys."""

    fields: dict[str, Value]
    tags: frozenset[str]
    uid: str
    version: str


# --------------------------------------------------------------------------------- reading


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    if "\\\\" in value:
        return _ESCAPE.sub(lambda m: _UNESCAPES.get(m.group()[1], m.group()), value)
    # Without an escaped backslash every backslash starts an escape, so plain replaces are exact.
    for escaped, plain in _SIMPLE_UNESCAPES:
        if escaped in value:
            value = value.replace(escaped, plain)
    return value


def _split(value: str, sep: str) -> list[str]:
    """Split on unescaped ``sep`` and unescape the parts."""
    if "\\" not in value:
        return value.split(sep)
    escaped_sep = "\\" + sep
    if "\\\\" not in value and "\x00" not in value:
        parts = value.replace(escaped_sep, "\x00").split(sep)
        return [_unescape(part).replace("\x00", sep) for part in parts]
    parts = []
    buf: list[str] = []
    start = 0
    for match in _ESCAPE_OR_SEP[sep].finditer(value):
        token = match.group()
        buf.append(value[start : match.start()])
        if token == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(_UNESCAPES.get(token[1], token))
        start = match.end()
    buf.append(value[start:])
    parts.append("".join(buf))
    return parts


def _param_types(params: str) -> list[str]:
    """The lower-cased TYPE values of ``TYPE=a,b``, ``TYPE=a;TYPE=b`` or bare ``A;B`` params."""
    types: list[str] = []
    for param in _split_params(params):
        key, eq, val = param.partition("=")
        if not eq:
            types.append(key.strip().lower())
        elif key.strip().upper() == "TYPE":
            types.extend(t.strip().strip('"').lower() for t in val.split(","))
    return types


def _split_params(params: str) -> list[str]:
    if '"' not in params:
        return params.split(";")
    result: list[str] = []
    buf: list[str] = []
    quoted = False
    for char in params:
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            result.append("".join(buf))
            buf = []
            continue
        buf.append(char)
    result.append("".join(buf))
    return [p.replace('"', "") for p in result]


def _param_value(params: str, name: str) -> str:
    for param in _split_params(params):
        key, eq, val = param.partition("=")
        if eq and key.strip().upper() == name:
            return val.strip()
    return ""


def phone_kind(types: Iterable[str]) -> str:
    present = set(types)
    for token in _PHONE_KIND_ORDER:
        if token in present:
            return PHONE_KINDS[token]
    return "other"


def simple_kind(types: Iterable[str]) -> str:
    present = set(types)
    if "home" in present:
        return "home"
    if "work" in present:
        return "work"
    return "other"


def normalize_date(text: str, params: str = "") -> str:
    """``YYYY-MM-DD`` or ``--MM-DD`` when the text is a date, else the text as it is."""
    value = text.strip()
    match = _DATE.fullmatch(value)
    if match:
        year, month, day = match.groups()
        if _valid_month_day(month, day):
            omit = params and _param_value(params, "X-APPLE-OMIT-YEAR")
            return f"--{month}-{day}" if omit == year else f"{year}-{month}-{day}"
        return value
    match = _NO_YEAR.fullmatch(value)
    if match and _valid_month_day(*match.groups()):
        return f"--{match.group(1)}-{match.group(2)}"
    return value


def _valid_month_day(month: str, day: str) -> bool:
    return 1 <= int(month) <= 12 and 1 <= int(day) <= 31


def _split_line(line: str) -> tuple[str, str, str] | None:
    """``(head, params, value)`` of a logical line (``head`` keeps the group), None if no colon."""
    colon = line.find(":")
    if colon < 0:
        return None
    head = line[:colon]
    if '"' in head and head.count('"') % 2:
        colon = _unquoted_colon(line)
        if colon < 0:
            return None
        head = line[:colon]
    semi = head.find(";")
    if semi < 0:
        return head, "", line[colon + 1 :]
    return head[:semi], head[semi + 1 :], line[colon + 1 :]


def _unquoted_colon(line: str) -> int:
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return index
    return -1


def _decode_qp(params: str, value: str) -> str:
    charset = _param_value(params, "CHARSET") or "utf-8"
    raw = quopri.decodestring(value.encode("utf-8"))
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _logical_lines(text: str, skip_photo: bool) -> list[str]:
    if text.startswith("\ufeff"):
        text = text[1:]
    if skip_photo:
        text = _without_photo(text)
    if "\r" in text:
        if text.count("\r") == text.count("\n"):  # CRLF throughout: skip a copy of the text
            text = text.replace("\r\n ", "")
            if "\r\n\t" in text:
                text = text.replace("\r\n\t", "")
            return text.split("\r\n")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n " in text:
        text = text.replace("\n ", "")
    if "\n\t" in text:
        text = text.replace("\n\t", "")
    return text.split("\n")


def _without_photo(text: str) -> str:
    """``text`` without its first PHOTO property, cut out before unfolding costs anything."""
    start = text.find("\nPHOTO")
    if start < 0 or text[start + 6 : start + 7] not in (";", ":"):
        return text
    end = _NEXT_PROPERTY.search(text, start + 6)
    if end is None:
        return text
    next_line = text[end.end() : text.find("\n", end.end())]
    if ":" not in next_line:  # vCard 2.1 base64 lines may continue without indentation
        return text
    return text[: start + 1] + text[end.end() :]


_NEXT_PROPERTY = re.compile(r"\n(?![ \t])")


def _kind_of(prop: str, params: str) -> str:
    key = prop + params
    kind = _KIND_CACHE.get(key)
    if kind is None:
        types = _param_types(params)
        kind = phone_kind(types) if prop == "TEL" else simple_kind(types)
        if len(_KIND_CACHE) > 4096:
            _KIND_CACHE.clear()
        _KIND_CACHE[key] = kind
    return kind


_KIND_CACHE: dict[str, str] = {}


def email_item(params: str, value: str) -> Item | None:
    value = _unescape(value).strip()
    if not value:
        return None
    return Item(_kind_of("EMAIL", params) if params else "other", value)


def phone_item(params: str, value: str) -> Item | None:
    value = _unescape(value).strip()
    if value[:4].lower() == "tel:":
        value = value[4:].strip()
    if not value:
        return None
    return Item(_kind_of("TEL", params) if params else "other", value)


def address_item(params: str, value: str) -> Item | None:
    parts = [part.strip() for part in _split(value, ";")[:7]]
    if not any(parts):
        return None
    parts += [""] * (7 - len(parts))
    address = _new_tuple(Address, parts)
    return _new_tuple(Item, (_kind_of("ADR", params) if params else "other", address))


# NamedTuple construction goes through a Python-level __new__; this is the same, in C.
_new_tuple = tuple.__new__


_ITEM_READERS: dict[str, Callable[[str, str], Item | None]] = {
    "EMAIL": email_item,
    "TEL": phone_item,
    "ADR": address_item,
    "URL": email_item,
}
# What parse_card does with each property it reads.
_EMAIL, _TEL, _ADR, _URL, _FN, _TITLE, _NOTE, _N, _ORG, _CATEGORIES = range(10)
_NICKNAME, _BDAY, _UID, _VERSION, _END, _BINARY, _BEGIN = range(10, 17)
_ACTIONS = {
    "EMAIL": _EMAIL,
    "TEL": _TEL,
    "ADR": _ADR,
    "URL": _URL,
    "FN": _FN,
    "TITLE": _TITLE,
    "NOTE": _NOTE,
    "N": _N,
    "ORG": _ORG,
    "CATEGORIES": _CATEGORIES,
    "NICKNAME": _NICKNAME,
    "BDAY": _BDAY,
    "UID": _UID,
    "VERSION": _VERSION,
    "END": _END,
    "BEGIN": _BEGIN,
    **dict.fromkeys(_BINARY_PROPS, _BINARY),
}
_TEXT_KEYS = (*(None,) * _FN, "full_name", "title", "notes")
_KIND_PROPS = ("EMAIL", "TEL", "ADR", "URL")


def parse_card(text: str) -> ParsedCard:
    """Read the first card of ``text``; raise :class:`VCardError` when it is malformed."""
    try:
        return _parse(text, skip_photo=True)
    except VCardError:
        return _parse(text, skip_photo=False)  # the same error, with the right line number


def _parse(text: str, skip_photo: bool) -> ParsedCard:
    lines = _logical_lines(text, skip_photo)
    count = len(lines)
    index = 0
    while index < count and not lines[index].strip():
        index += 1
    if index == count or lines[index].strip().upper() != "BEGIN:VCARD":
        raise VCardError("no BEGIN:VCARD line")
    index += 1
    fields: dict[str, Value] = {}
    multi: tuple[list[Item], ...] = ([], [], [], [])
    tags: set[str] = set()
    uid = version = ""
    seen_n = seen_org = binary = False
    actions = _ACTIONS
    kinds = _KIND_CACHE
    while index < count:
        line = lines[index]
        index += 1
        colon = line.find(":")
        if colon < 0 or ('"' in line[:colon] and line[:colon].count('"') % 2):
            if not line.strip() or (binary and ":" not in line):
                continue
            parts = _split_line(line)
            if parts is None:
                raise VCardError(f"line {_physical_line(text, index)}: property without a colon")
            head, params, value = parts
        else:
            head = line[:colon]
            value = line[colon + 1 :]
            semi = head.find(";")
            if semi < 0:
                params = ""
            else:
                params = head[semi + 1 :]
                head = head[:semi]
        if params and "QUOTED-PRINTABLE" in params.upper():
            while value.endswith("=") and index < count:
                value = value[:-1] + lines[index]
                index += 1
            value = _decode_qp(params, value)
        action = actions.get(head.upper())
        if action is None:
            dot = head.rfind(".")
            action = None if dot < 0 else actions.get(head[dot + 1 :].upper())
            if action is None:
                binary = False
                continue
        binary = False
        if action <= _URL:
            if action == _ADR:
                item = address_item(params, value)
                if item is not None:
                    multi[_ADR].append(item)
                continue
            if "\\" in value:
                value = _unescape(value)
            value = value.strip()
            if action == _TEL and value[:4].lower() == "tel:":
                value = value[4:].strip()
            if value:
                if params:
                    kind = kinds.get(_KIND_PROPS[action] + params) or _kind_of(
                        _KIND_PROPS[action], params
                    )
                else:
                    kind = "other"
                multi[action].append(_new_tuple(Item, (kind, value)))
        elif action <= _NOTE:
            key = _TEXT_KEYS[action]
            if key not in fields:
                if "\\" in value:
                    value = _unescape(value)
                value = value.strip()
                if value:
                    fields[key] = value
        elif action == _N:
            if not seen_n:
                seen_n = True
                _put_parts(fields, N_PARTS, value)
        elif action == _ORG:
            if not seen_org:
                seen_org = True
                _put_parts(fields, ORG_PARTS, value)
        elif action == _CATEGORIES:
            tags.update(part.strip() for part in _split(value, ","))
        elif action == _NICKNAME:
            if "nickname" not in fields:
                nick = next((p.strip() for p in _split(value, ",") if p.strip()), "")
                if nick:
                    fields["nickname"] = nick
        elif action == _BDAY:
            if "birthday" not in fields:
                value = _unescape(value).strip()
                if value:
                    fields["birthday"] = normalize_date(value, params)
        elif action == _UID:
            if not uid:
                uid = _unescape(value).strip()
        elif action == _VERSION:
            version = value.strip()
        elif action == _END:
            if value.strip().upper() == "VCARD":
                return _finish(fields, multi, tags, uid, version)
        elif action == _BINARY:
            binary = True
        else:
            raise VCardError(f"line {_physical_line(text, index)}: a card inside a card")
    raise VCardError("unterminated card (no END:VCARD)")


def _finish(
    fields: dict[str, Value],
    multi: tuple[list[Item], ...],
    tags: set[str],
    uid: str,
    version: str,
) -> ParsedCard:
    emails, phones, addresses, urls = multi
    if emails:
        fields["emails"] = tuple(emails)
    if phones:
        fields["phones"] = tuple(phones)
    if addresses:
        fields["addresses"] = tuple(addresses)
    if urls:
        fields["urls"] = tuple(urls)
    tags.discard("")
    return ParsedCard(fields, frozenset(tags), uid, version or "3.0")


def _put_parts(fields: dict[str, Value], keys: tuple[str, ...], value: str) -> None:
    for key, part in zip(keys, _split(value, ";"), strict=False):
        part = part.strip()
        if part:
            fields[key] = part


def _physical_line(text: str, logical: int) -> int:
    """The 1-based line number in ``text`` where logical line number ``logical`` starts."""
    if text.startswith("\ufeff"):
        text = text[1:]
    physical = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    seen = 0
    for number, line in enumerate(physical, 1):
        if line[:1] not in (" ", "\t") or number == 1:
            seen += 1
            if seen == logical:
                return number
    return len(physical)


# --------------------------------------------------------------------------------- writing


def escape(value: str) -> str:
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if ";" in value:
        value = value.replace(";", "\\;")
    if "," in value:
        value = value.replace(",", "\\,")
    if "\n" in value or "\r" in value:
        value = value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return value


def fold(line: str) -> str:
    """Fold a content line at 75 octets with CRLF + space, never inside a UTF-8 sequence."""
    if len(line) <= 75 and (line.isascii() or len(line.encode()) <= 75):
        return line
    if line.isascii():
        chunks = [line[:75]]
        chunks += [line[pos : pos + 74] for pos in range(75, len(line), 74)]
        return "\r\n ".join(chunks)
    data = line.encode()
    chunks_b: list[bytes] = []
    start, limit = 0, 75
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:
            end -= 1
        chunks_b.append(data[start:end])
        start, limit = end, 74
    chunks_b.append(data[start:])
    return "\r\n ".join(chunk.decode() for chunk in chunks_b)


def _type_param(kind: str, prop: str, version: str) -> str:
    if prop != "TEL" and kind not in ("home", "work"):
        kind = "other"
    value = _KIND_TYPES.get(kind, "")
    if version == "4.0":
        return f";TYPE={value.lower()}" if value else ""
    if prop == "EMAIL":
        return f";TYPE=INTERNET,{value}" if value else ";TYPE=INTERNET"
    return f";TYPE={value}" if value else ""


def _item_line(prop: str, item: Item, version: str) -> str:
    value = item.value
    text = _structured(value) if isinstance(value, Address) else escape(value)
    params = _type_param(item.kind, prop, version)
    if prop == "TEL" and version == "4.0":
        params = ";VALUE=text" + params
    return f"{prop}{params}:{text}"


def _format_date(value: str, version: str) -> str:
    if version != "4.0":
        return value
    match = _NO_YEAR.fullmatch(value)
    if match:
        return f"--{match.group(1)}{match.group(2)}"
    match = _DATE.fullmatch(value)
    if match and len(value) == 10:
        return "".join(match.groups())
    return value


def formatted_name(fields: dict[str, Value]) -> str:
    """The FN a card of these fields gets (FN is required in 3.0: built from N, email, ORG)."""
    name = _str(fields, "full_name").strip()
    if name:
        return name
    order = ("name_prefix", "given_name", "middle_name", "family_name", "name_suffix")
    parts = [_str(fields, key).strip() for key in order]
    name = " ".join(p for p in parts if p)
    if name:
        return name
    for item in _items(fields, "emails"):
        if isinstance(item.value, str) and item.value.strip():
            return item.value.strip()
    return _str(fields, "company").strip()


def _str(fields: dict[str, Value], key: str) -> str:
    value = fields.get(key, "")
    return value if isinstance(value, str) else ""


def _items(fields: dict[str, Value], key: str) -> tuple[Item, ...]:
    value = fields.get(key, ())
    return value if isinstance(value, tuple) else ()


def _structured(parts: Iterable[str]) -> str:
    return ";".join(escape(part) for part in parts)


def _field_lines(fields: dict[str, Value], version: str) -> dict[str, list[str]]:
    """The content lines (unfolded) of each property the fields produce, by property name."""
    out: dict[str, list[str]] = {}
    for key, prop in SIMPLE_PROPS.items():
        value = _str(fields, key).strip()
        if value:
            if key == "birthday":
                value = _format_date(value, version)
            out[prop] = [f"{prop}:{escape(value)}"]
    nickname = _str(fields, "nickname").strip()
    if nickname:
        out["NICKNAME"] = [f"NICKNAME:{escape(nickname)}"]
    for key, prop in MULTI_PROPS.items():
        items = normalize_items(key, _items(fields, key))
        if items:
            out[prop] = [_item_line(prop, item, version) for item in items]
    return out


def normalize_items(key: str, items: Iterable[Item]) -> tuple[Item, ...]:
    """The items as a card holds them after a write: stripped, non-empty, known kinds."""
    result: list[Item] = []
    for kind, value in items:
        if isinstance(value, Address):
            value = Address(*(part.strip() for part in value))
            if value.is_empty():
                continue
        else:
            value = value.strip()
            if key == "phones" and value[:4].lower() == "tel:":
                value = value[4:].strip()
            if not value:
                continue
        if key == "phones":
            kind = kind if kind in _KIND_TYPES else "other"
        else:
            kind = kind if kind in ("home", "work") else "other"
        result.append(Item(kind, value))
    return tuple(result)


def new_card(uid: str, fields: dict[str, Value], tags: frozenset[str]) -> str:
    """A vCard 3.0 of the fields, with CRLF line endings and folded lines."""
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{escape(uid)}"]
    lines.append(f"FN:{escape(formatted_name(fields))}")
    lines.append("N:" + _structured(_str(fields, key).strip() for key in N_PARTS))
    by_prop = _field_lines(fields, "3.0")
    for prop in ("NICKNAME", "EMAIL", "TEL", "ADR"):
        lines += by_prop.get(prop, ())
    org = _org_value([_str(fields, key).strip() for key in ORG_PARTS])
    if org:
        lines.append(f"ORG:{org}")
    for prop in ("TITLE", "URL", "BDAY", "NOTE"):
        lines += by_prop.get(prop, ())
    tag_list = sorted(tag.strip() for tag in tags if tag.strip())
    if tag_list:
        lines.append("CATEGORIES:" + ",".join(escape(tag) for tag in tag_list))
    lines.append("END:VCARD")
    return "\r\n".join(fold(line) for line in lines) + "\r\n"


def _org_value(parts: list[str]) -> str:
    while parts and not parts[-1]:
        parts.pop()
    return _structured(parts)


# --------------------------------------------------------------------------------- updating


@dataclass(slots=True)
class _Block:
    """One logical property of a card file: its exact bytes and what it holds."""

    raw: str  # the physical lines, with their line endings, exactly as in the file
    group: str
    name: str  # upper-cased
    params: str
    value: str  # after unfolding (and quoted-printable decoding)
    removed: bool = False


def _physical_lines(text: str) -> list[str]:
    sep = "\n" if "\n" in text else "\r"
    pieces = text.split(sep)
    lines = [piece + sep for piece in pieces[:-1]]
    if pieces[-1]:
        lines.append(pieces[-1])
    return lines


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _blocks(text: str) -> list[_Block]:
    """The card split into blocks, mirroring how :func:`parse_card` unfolds lines."""
    blocks: list[_Block] = []
    physical = _physical_lines(text)
    index = 0
    binary = False
    while index < len(physical):
        raw = physical[index]
        content = _strip_eol(raw)
        index += 1
        number = index
        while index < len(physical) and physical[index][:1] in (" ", "\t"):
            raw += physical[index]
            content += _strip_eol(physical[index])[1:]
            index += 1
        if content.startswith("\ufeff"):
            content = content[1:]
        if not content.strip() or (binary and ":" not in content):
            blocks.append(_Block(raw, "", "", "", ""))
            continue
        parts = _split_line(content)
        if parts is None:
            raise VCardError(f"line {number}: property without a colon")
        head, params, value = parts
        group, dot, name = head.rpartition(".")
        if params and "QUOTED-PRINTABLE" in params.upper():
            while value.endswith("=") and index < len(physical):
                raw += physical[index]
                value = value[:-1] + _strip_eol(physical[index])
                index += 1
            value = _decode_qp(params, value)
        binary = name.upper() in _BINARY_PROPS
        blocks.append(_Block(raw, group if dot else "", name.upper(), params, value))
    return blocks


class _Updater:
    """Rewrites the blocks of one card for one update, leaving untouched blocks as they are."""

    def __init__(self, text: str, readable: bool) -> None:
        if not readable:
            parse_card(text)  # refuse to rewrite what cannot be read
        self.blocks = _blocks(text)
        self.version = next((b.value.strip() for b in self.blocks if b.name == "VERSION"), "3.0")
        self.eol = "\r\n" if "\r\n" in text else ("\n" if "\n" in text else "\r")
        self.ends_with_eol = text.endswith(("\n", "\r"))
        self.end = next(
            i
            for i, b in enumerate(self.blocks)
            if b.name == "END" and b.value.strip().upper() == "VCARD"
        )
        self.inserts: dict[int, list[str | _Block]] = {}  # what to put before block i

    def _card_blocks(self, name: str) -> list[int]:
        return [i for i, b in enumerate(self.blocks[: self.end]) if b.name == name]

    def _place(self, old: list[int], lines: Sequence[str | _Block]) -> None:
        """Drop the ``old`` blocks and put ``lines`` (new or kept blocks) where the first was."""
        for i in old:
            self.blocks[i].removed = True
        position = old[0] if old else self.end
        self.inserts.setdefault(position, []).extend(lines)

    def simple(self, prop: str, line: str | None) -> None:
        old = self._card_blocks(prop)
        if line is None and prop == "FN":
            line = "FN:"
        self._place(old, [line] if line else [])

    def structured(self, prop: str, keys: tuple[str, ...], fields: dict[str, Value]) -> None:
        old = self._card_blocks(prop)
        parts = _split(self.blocks[old[0]].value, ";") if old else []
        parts += [""] * (len(keys) - len(parts))
        for position, key in enumerate(keys):
            if key in fields:
                parts[position] = _str(fields, key).strip()
        if prop == "ORG":
            value = _org_value(list(parts))
            self._place(old, [f"ORG:{value}"] if value else [])
        else:
            self._place(old, [f"N:{_structured(parts)}"])

    def nickname(self, value: str) -> None:
        old = self._card_blocks("NICKNAME")
        if not value:
            self._place(old, [])
            return
        existing = [p.strip() for i in old for p in _split(self.blocks[i].value, ",")]
        existing = [p for p in existing if p]
        rest = [p for p in existing[1:] if p != value]
        self._place(old, ["NICKNAME:" + ",".join(escape(p) for p in [value, *rest])])

    def items(self, key: str, items: tuple[Item, ...]) -> None:
        prop = MULTI_PROPS[key]
        reader = _ITEM_READERS[prop]
        old = self._card_blocks(prop)
        available = {i: reader(self.blocks[i].params, self.blocks[i].value) for i in old}
        out: list[str | _Block] = []
        for item in normalize_items(key, items):
            match = next((i for i, have in available.items() if have == item), None)
            if match is None:
                out.append(_item_line(prop, item, self.version))
            else:
                del available[match]
                out.append(self.blocks[match])
        self._place(old, out)
        self._drop_orphan_companions({self.blocks[i].group for i in old})

    def _drop_orphan_companions(self, groups: set[str]) -> None:
        groups.discard("")
        for group in groups:
            members = [b for b in self.blocks if b.group.upper() == group.upper()]
            kept = {id(b) for pos in self.inserts.values() for b in pos if isinstance(b, _Block)}
            alive = [b for b in members if not b.name.startswith("X-AB") and not b.removed]
            if not alive and not any(id(b) in kept for b in members):
                for block in members:
                    block.removed = True

    def tags(self, add: frozenset[str], remove: frozenset[str]) -> None:
        old = self._card_blocks("CATEGORIES")
        current: list[str] = []
        for i in old:
            for part in _split(self.blocks[i].value, ","):
                part = part.strip()
                if part and part not in current:
                    current.append(part)
        wanted = [t for t in current if t not in remove]
        wanted += sorted(t.strip() for t in add if t.strip() and t.strip() not in wanted)
        if wanted == current:
            return
        line = "CATEGORIES:" + ",".join(escape(tag) for tag in wanted)
        self._place(old, [line] if wanted else [])

    def render(self) -> str:
        out: list[str] = []
        for index, block in enumerate(self.blocks):
            for entry in self.inserts.get(index, ()):
                if isinstance(entry, _Block):
                    out.append(self._with_eol(entry.raw))
                else:
                    out.append(fold(entry).replace("\r\n", self.eol) + self.eol)
            if not block.removed:
                out.append(block.raw)
        text = "".join(out)
        if not self.ends_with_eol:
            text = text.rstrip("\r\n")
        return text

    def _with_eol(self, raw: str) -> str:
        return raw if raw.endswith(("\n", "\r")) else raw + self.eol


def update_card(
    text: str,
    fields: dict[str, Value],
    add_tags: frozenset[str] = frozenset(),
    remove_tags: frozenset[str] = frozenset(),
    *,
    readable: bool = False,
) -> str:
    """``text`` with the named fields and tags changed and every other line left as it was.

    A card that :func:`parse_card` cannot read is refused (:class:`VCardError`), unless the
    caller says it is ``readable`` (it parsed this very text already): then it is not read twice.
    """
    unknown = set(fields) - set(VCARD_SCHEMA.fields)
    if unknown:
        raise ValueError(f"not vCard fields: {', '.join(sorted(unknown))}")
    updater = _Updater(text, readable)
    by_prop = _field_lines(fields, updater.version)
    for key, prop in SIMPLE_PROPS.items():
        if key in fields:
            lines = by_prop.get(prop)
            updater.simple(prop, lines[0] if lines else None)
    if any(key in fields for key in N_PARTS):
        updater.structured("N", N_PARTS, fields)
    if any(key in fields for key in ORG_PARTS):
        updater.structured("ORG", ORG_PARTS, fields)
    if "nickname" in fields:
        updater.nickname(_str(fields, "nickname").strip())
    for key in MULTI_PROPS:
        if key in fields:
            updater.items(key, _items(fields, key))
    if add_tags or remove_tags:
        updater.tags(add_tags, remove_tags)
    return updater.render()
