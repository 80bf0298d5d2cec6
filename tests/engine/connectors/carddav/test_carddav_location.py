"""How a CardDAV location is written, read back, and whose account it names."""

from __future__ import annotations

import pytest

from piesync_desktop.engine.connectors.carddav.location import CardDavLocation, TagStyle
from piesync_desktop.engine.errors import ConfigError


@pytest.mark.parametrize(
    ("written", "url", "user"),
    [
        ("https://me@dav.example.com/me/book/", "https://dav.example.com/me/book/", "me"),
        ("dav.example.com/me/book", "https://dav.example.com/me/book/", ""),
        (
            "https://me%40fastmail.com@carddav.fastmail.com/dav/addressbooks/",
            "https://carddav.fastmail.com/dav/addressbooks/",
            "me@fastmail.com",
        ),
        (
            "https://me@icloud.com@contacts.icloud.com/123/carddavhome/card/",
            "https://contacts.icloud.com/123/carddavhome/card/",
            "me@icloud.com",
        ),
        ("http://alice@127.0.0.1:5232/alice/x/", "http://127.0.0.1:5232/alice/x/", "alice"),
    ],
)
def test_locations_are_read_as_people_write_them(written: str, url: str, user: str) -> None:
    where = CardDavLocation.parse(written)
    assert (where.url, where.username, where.tag_style) == (url, user, TagStyle.AUTO)


def test_a_spec_reads_back_to_the_same_location() -> None:
    where = CardDavLocation("https://dav.example.com/a b/", "me@example.com", TagStyle.GROUPS)
    assert where.spec == "carddav:https://me%40example.com@dav.example.com/a b/#groups"
    assert CardDavLocation.parse(where.spec_location) == where


def test_the_account_is_the_user_on_the_server_whatever_the_book() -> None:
    one = CardDavLocation.parse("https://me@dav.example.com/me/work/")
    two = CardDavLocation.parse("https://me@dav.example.com:443/me/home/#categories")
    other = CardDavLocation.parse("https://you@dav.example.com/you/work/")
    assert one.account_key == two.account_key == "carddav:me@dav.example.com:443"
    assert other.account_key != one.account_key


def test_a_password_in_the_address_is_never_kept() -> None:
    where = CardDavLocation.parse("https://me:hunter2@dav.example.com/me/book/")
    assert "hunter2" not in where.spec and "hunter2" not in where.account_key


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("ftp://dav.example.com/book/", "not an address book URL"),
        ("https://dav.example.com:99999/book/", "not an address book URL"),
        ("https://dav.example.com/book/#tags", "#groups or #categories"),
    ],
)
def test_a_location_that_cannot_work_says_how_to_write_it(written: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        CardDavLocation.parse(written)
