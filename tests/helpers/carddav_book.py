"""Address books on the real test servers, as tests of the CardDAV connector use them: cards
written the way other clients write them, and a connector on a book."""

from __future__ import annotations

import uuid

from helpers.dav_servers import DavServer
from piesync_desktop import secrets
from piesync_desktop.engine.connectors.carddav.connector import CardDav
from piesync_desktop.engine.connectors.carddav.location import PASSWORD, CardDavLocation
from piesync_desktop.engine.connectors.http import HttpSettings

FAST = HttpSettings(connect_timeout=2.0, read_timeout=3.0, max_wait=2.0)


def card(
    name: str, email: str = "", *, uid: str | None = None, extra: str = "", version: str = "3.0"
) -> str:
    """A vCard as another client would write it."""
    given, _, family = name.partition(" ")
    lines = [
        "BEGIN:VCARD",
        f"VERSION:{version}",
        f"UID:{uid or uuid.uuid4().hex}",
        f"FN:{name}",
        f"N:{family};{given};;;",
    ]
    if email:
        lines.append(f"EMAIL;TYPE=INTERNET:{email}" if version == "3.0" else f"EMAIL:{email}")
    text = "\r\n".join(lines) + "\r\n" + extra + "END:VCARD\r\n"
    return text


def spec_location(server: DavServer, book_url: str, *, fragment: str = "") -> str:
    """The location after ``carddav:`` for a book, with the server's user when it has one."""
    where = CardDavLocation.parse(book_url)
    if server.username:
        where = CardDavLocation(where.url, server.username)
        secrets.store_secret(where.account_key, PASSWORD, server.password or "")
    return where.spec_location + (f"#{fragment}" if fragment else "")


class Book:
    """An address book on a real server, and what a test does with it from outside."""

    def __init__(self, server: DavServer, url: str) -> None:
        self.server = server
        self.url = url
        self.http = server.client()

    def connector(self, *, url: str | None = None, fragment: str = "") -> CardDav:
        connector = CardDav(spec_location(self.server, url or self.url, fragment=fragment))
        connector._settings = FAST
        return connector

    def put(self, name: str, text: str, etag: str | None = None) -> str:
        headers = {"Content-Type": "text/vcard; charset=utf-8"}
        if etag:
            headers["If-Match"] = etag
        answer = self.http.put(self.url + name, content=text.encode(), headers=headers)
        assert answer.status_code in (201, 204), answer.text
        return answer.headers.get("etag", "")

    def get(self, name: str) -> str:
        answer = self.http.get(self.url + name)
        assert answer.status_code == 200, answer.status_code
        return answer.text

    def delete(self, name: str) -> None:
        assert self.http.delete(self.url + name).status_code in (200, 204)

    def names(self) -> set[str]:
        return {href.rsplit("/", 1)[1] for href in self.server.hrefs(self.url)}

    def close(self) -> None:
        self.http.close()
