"""How the main window names a connection's sides."""

from __future__ import annotations

from piesync_desktop.ui.connections_model import AppLabel


def test_a_signed_in_side_reads_as_its_folder_and_account() -> None:
    assert AppLabel.of("outlook:@ada@contoso.com").short() == (
        "Outlook 365 · Contacts (ada@contoso.com)"
    )
    assert AppLabel.of("outlook:Family/Cousins@ada@contoso.com").short_location == (
        "Family/Cousins (ada@contoso.com)"
    )
    assert (
        AppLabel.of("google:@me@gmail.com").short()
        == "Google Contacts · All contacts (me@gmail.com)"
    )
    assert AppLabel.of("google:Team@me@gmail.com").short_location == "Team (me@gmail.com)"


def test_a_folder_and_an_address_book_read_as_their_names() -> None:
    assert AppLabel.of("vcard:/home/me/contacts/work").short_location == "work"
    assert AppLabel.of("carddav:https://dav.example.org/ada/book/").short_location == (
        "book on dav.example.org"
    )
