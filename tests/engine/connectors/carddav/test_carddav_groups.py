"""Apple's group vCards: reading them, and membership edits that keep the rest of the card."""

from __future__ import annotations

from piesync_desktop.engine.connectors.carddav import groups

APPLE_GROUP = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iOS 17//EN\r\nN:Friends\r\nFN:Friends\r\n"
    "X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:AAA\r\n"
    "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:BBB\r\nREV:2024-01-01T00:00:00Z\r\n"
    "UID:G1\r\nEND:VCARD\r\n"
)
VCARD4_GROUP = (
    "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:Team\r\nUID:urn:uuid:G2\r\n"
    "MEMBER:urn:uuid:CCC\r\nEND:VCARD\r\n"
)
PERSON = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:P\r\nFN:Ann\r\nEND:VCARD\r\n"


def test_group_cards_are_told_from_contacts() -> None:
    assert groups.is_group(APPLE_GROUP)
    assert groups.is_group(VCARD4_GROUP)
    assert not groups.is_group(PERSON)


def test_a_group_names_its_members_by_uid() -> None:
    assert groups.parse_group(APPLE_GROUP) == groups.Group(
        "G1", "Friends", frozenset({"AAA", "BBB"})
    )
    assert groups.parse_group(VCARD4_GROUP).members == {"CCC"}


def test_membership_edits_keep_every_other_line() -> None:
    edited = groups.with_members(APPLE_GROUP, add={"CCC", "AAA"}, remove={"BBB"})
    assert groups.parse_group(edited).members == {"AAA", "CCC"}
    for line in ("PRODID:-//Apple Inc.//iOS 17//EN", "REV:2024-01-01T00:00:00Z", "UID:G1"):
        assert line in edited
    assert edited.count("urn:uuid:AAA") == 1
    assert edited.endswith("END:VCARD\r\n")


def test_a_vcard4_group_gains_members_its_own_way() -> None:
    edited = groups.with_members(VCARD4_GROUP, add={"DDD"}, remove=())
    assert "\r\nMEMBER:urn:uuid:DDD\r\n" in edited
    assert "X-ADDRESSBOOKSERVER-MEMBER" not in edited


def test_a_new_group_is_what_apples_apps_read() -> None:
    uid, text = groups.new_group("PieSync Trash", ["P2", "P1"])
    parsed = groups.parse_group(text)
    assert parsed == groups.Group(uid, "PieSync Trash", frozenset({"P1", "P2"}))
    assert "X-ADDRESSBOOKSERVER-KIND:group" in text
