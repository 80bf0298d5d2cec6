"""Email normalisation and the match key (Avoid Duplicates pairs contacts on it)."""

from __future__ import annotations

import unicodedata

import pytest

from piesync_desktop.engine.matching import match_key, normalise_email
from piesync_desktop.engine.model import Item, Record


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("JANE@EXAMPLE.COM", "jane@example.com"),
        ("  jane@example.com  ", "jane@example.com"),
        ("\tjane@example.com\n", "jane@example.com"),
        ("mailto:Jane@Example.com", "jane@example.com"),
        ("MAILTO:jane@example.com", "jane@example.com"),
        ("  MailTo:JANE@example.com ", "jane@example.com"),
        ("o'neil+news@Example.co.uk", "o'neil+news@example.co.uk"),
    ],
)
def test_normalise_email_trims_strips_mailto_and_lowercases(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "mailto:", " mailto:  "])
def test_normalise_email_of_nothing_is_empty(raw: str) -> None:
    assert normalise_email(raw) == ""


def test_normalise_email_unicode_domain_is_lowercased() -> None:
    assert normalise_email("Jane@BÜCHER.DE") == "jane@bücher.de"
    assert normalise_email("jane@bücher.de") == normalise_email("JANE@Bücher.De")


def test_normalise_email_composes_to_nfc() -> None:
    decomposed = "jo\u0308rg@example.com"  # o + combining diaeresis
    composed = "j\u00f6rg@example.com"
    assert decomposed != composed
    result = normalise_email(decomposed)
    assert result == composed
    assert unicodedata.is_normalized("NFC", result)
    assert normalise_email("J\u00d6RG@Example.com") == composed


def test_normalise_email_unicode_domain_in_nfd_matches_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "jane@bücher.de")
    assert normalise_email(nfd) == normalise_email("jane@bücher.de") == "jane@bücher.de"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Not An Email", "not an email"),
        ("Foo@@Bar", "foo@@bar"),
        ("  Jane Doe <Jane@Example.com> ", "jane doe <jane@example.com>"),
        ("JANE@LOCALHOST", "jane@localhost"),
    ],
)
def test_invalid_addresses_are_still_lowercased_and_trimmed(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


def test_punycode_and_unicode_domain_normalise_alike() -> None:
    assert normalise_email("jane@xn--bcher-kva.de") == normalise_email("jane@bücher.de")


def test_space_after_mailto_is_trimmed() -> None:
    assert normalise_email("mailto: jane@example.com") == "jane@example.com"


def test_equivalent_spellings_give_one_match_key() -> None:
    spellings = ["Jane@Example.com", " jane@EXAMPLE.COM", "mailto:JANE@example.com"]
    keys = {match_key(Record("x", {"emails": (Item("work", s),)}), "emails") for s in spellings}
    assert keys == {"jane@example.com"}


def test_match_key_uses_the_first_email() -> None:
    record = Record(
        "1",
        {
            "emails": (
                Item("work", "First@Example.com"),
                Item("home", "second@example.com"),
            )
        },
    )
    assert match_key(record, "emails") == "first@example.com"


def test_match_key_skips_empty_items_before_the_first_email() -> None:
    record = Record("1", {"emails": (Item("work", ""), Item("home", "Real@Example.com"))})
    assert match_key(record, "emails") == "real@example.com"


def test_match_key_skips_whitespace_only_items() -> None:
    record = Record("1", {"emails": (Item("work", "   "), Item("home", "Real@Example.com"))})
    assert match_key(record, "emails") == "real@example.com"


def test_match_key_of_a_single_valued_email_field() -> None:
    record = Record("1", {"email": " Jane@Example.com "})
    assert match_key(record, "email") == "jane@example.com"


def test_match_key_is_empty_without_email() -> None:
    assert match_key(Record("1", {"emails": ()}), "emails") == ""
    assert match_key(Record("1", {}), "emails") == ""
    assert match_key(Record("1", {"emails": (Item("work", "a@b.com"),)}), None) == ""
