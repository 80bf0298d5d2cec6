"""Apple's group vCards, the way iCloud (and the macOS and iOS Contacts apps) keep groups.

A group is a card of its own with ``X-ADDRESSBOOKSERVER-KIND:group`` (``KIND:group`` in vCard
4.0) whose ``X-ADDRESSBOOKSERVER-MEMBER`` (``MEMBER``) lines name its members by UID, usually as
``urn:uuid:<UID>``. In an address book that keeps tags this way, a contact's tags are the names
of the groups it belongs to (plus any CATEGORIES it has), and tagging a contact 'PieSync Trash'
adds it to a group of that name, which then shows in Apple's own apps.

Membership edits are set operations on the group's member lines; every other line of the group
card is kept as it was, so a group edited again after a conflict (412) merges, never clobbers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from piesync_desktop.engine.connectors.vcard_codec import escape, fold

_KIND = re.compile(r"^(?:[\w-]+\.)?(?:X-ADDRESSBOOKSERVER-KIND|KIND)[;:]", re.I)
_MEMBER = re.compile(r"^(?:[\w-]+\.)?(?:X-ADDRESSBOOKSERVER-MEMBER|MEMBER)(?:;[^:]*)?:(.*)$", re.I)
_FN = re.compile(r"^(?:[\w-]+\.)?FN(?:;[^:]*)?:(.*)$", re.I)
_UID = re.compile(r"^(?:[\w-]+\.)?UID(?:;[^:]*)?:(.*)$", re.I)
_VERSION = re.compile(r"^VERSION:(.*)$", re.I)
_UNFOLD = re.compile(r"\r?\n[ \t]")


@dataclass(frozen=True, slots=True)
class Group:
    """One group card: its name and the UIDs of its members."""

    uid: str
    name: str
    members: frozenset[str]


def _logical(text: str) -> list[str]:
    return _UNFOLD.sub("", text).replace("\r\n", "\n").split("\n")


def member_uid(value: str) -> str:
    value = value.strip()
    for prefix in ("urn:uuid:", "urn:uuid"):
        if value.lower().startswith(prefix):
            return value[len(prefix) :].strip()
    return value


def is_group(text: str) -> bool:
    for line in _logical(text):
        if _KIND.match(line):
            return line.partition(":")[2].strip().lower() == "group"
    return False


def parse_group(text: str) -> Group:
    uid = name = ""
    members: set[str] = set()
    for line in _logical(text):
        if match := _MEMBER.match(line):
            members.add(member_uid(match.group(1)))
        elif not name and (match := _FN.match(line)):
            name = match.group(1).replace("\\,", ",").replace("\\;", ";").strip()
        elif not uid and (match := _UID.match(line)):
            uid = match.group(1).strip()
    members.discard("")
    return Group(uid, name, frozenset(members))


def new_group(name: str, members: Iterable[str]) -> tuple[str, str]:
    """(uid, text) of a new group card in vCard 3.0, as Apple's apps write them."""
    uid = str(uuid.uuid4()).upper()
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"UID:{uid}",
        f"FN:{escape(name)}",
        f"N:{escape(name)};;;;",
        "X-ADDRESSBOOKSERVER-KIND:group",
    ]
    lines += [f"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:{m}" for m in sorted(members)]
    lines.append("END:VCARD")
    return uid, "\r\n".join(fold(line) for line in lines) + "\r\n"


def with_members(text: str, add: Iterable[str], remove: Iterable[str]) -> str:
    """``text`` with members added and removed, every other line as it was."""
    removing = set(remove)
    lines = _logical(text)
    version4 = any(
        (m := _VERSION.match(line)) and m.group(1).strip().startswith("4") for line in lines
    )
    present: set[str] = set()
    kept: list[str] = []
    for line in lines:
        match = _MEMBER.match(line)
        if match:
            uid = member_uid(match.group(1))
            if uid in removing or uid in present:
                continue
            present.add(uid)
        kept.append(line)
    prop = "MEMBER" if version4 else "X-ADDRESSBOOKSERVER-MEMBER"
    new = [f"{prop}:urn:uuid:{uid}" for uid in sorted(set(add) - present - removing)]
    end = max((i for i, line in enumerate(kept) if line.strip().upper() == "END:VCARD"), default=-1)
    if end < 0:
        raise ValueError("a group card without END:VCARD")
    kept[end:end] = new
    while kept and not kept[-1]:
        kept.pop()
    return "\r\n".join(fold(line) for line in kept) + "\r\n"
