"""The real-server test helpers do what they say: servers, books, bulk fill, and each fault."""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import httpx
import pytest
from helpers.dav_servers import CARDDAV, DAV, DavServer, fresh_name
from helpers.fault_proxy import FaultProxy

XML = {"Content-Type": "application/xml; charset=utf-8"}
VCARD = {"Content-Type": "text/vcard; charset=utf-8"}
PROPFIND = (
    '<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:displayname/><D:getetag/>'
    "</D:prop></D:propfind>"
)
CURRENT_USER = (
    '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop>'
    "<D:current-user-principal/><C:addressbook-home-set/></D:prop></D:propfind>"
)


def card(uid: str, name: str = "Ann Example", version: str = "3.0") -> str:
    return (
        f"BEGIN:VCARD\r\nVERSION:{version}\r\nUID:{uid}\r\nFN:{name}\r\nN:Example;Ann;;;\r\n"
        f"EMAIL:{uid}@example.com\r\nEND:VCARD\r\n"
    )


def propfind(http: httpx.Client, url: str, depth: str = "1", body: str = PROPFIND) -> ET.Element:
    answer = http.request("PROPFIND", url, content=body, headers={**XML, "Depth": depth})
    assert answer.status_code == 207, answer.text
    return ET.fromstring(answer.content)


def responses(tree: ET.Element) -> dict[str, ET.Element]:
    return {r.findtext(f"{{{DAV}}}href"): r for r in tree.iter(f"{{{DAV}}}response")}


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_a_new_book_is_an_addressbook_in_the_home(dav_server: DavServer) -> None:
    url = dav_server.make_addressbook(fresh_name(), displayname="Work & friends")

    assert url.startswith(dav_server.home_url) and url.endswith("/")
    with dav_server.client() as http:
        found = responses(propfind(http, dav_server.home_url))
    book = found[path_of(url)]
    assert book.find(f".//{{{DAV}}}resourcetype/{{{CARDDAV}}}addressbook") is not None
    assert book.findtext(f".//{{{DAV}}}displayname") == "Work & friends"


def test_put_many_fills_a_book_and_adds_to_it(dav_server: DavServer) -> None:
    url = dav_server.make_addressbook(fresh_name(), displayname="Big")

    dav_server.put_many(url, [card(f"u{i}") for i in range(20)])
    dav_server.put_many(url, [card("late one")])

    with dav_server.client() as http:
        found = responses(propfind(http, url))
    cards = {href: r for href, r in found.items() if href != path_of(url)}
    assert len(cards) == 21
    assert path_of(url) + "u7.vcf" in cards
    assert path_of(url) + "late%20one.vcf" in cards
    assert all(r.findtext(f".//{{{DAV}}}getetag") for r in cards.values())
    assert found[path_of(url)].findtext(f".//{{{DAV}}}displayname") == "Big"
    assert dav_server.hrefs(url).keys() == cards.keys()


def test_vcard_3_and_4_are_stored_with_an_etag(dav_server: DavServer) -> None:
    url = dav_server.make_addressbook(fresh_name())
    with dav_server.client() as http:
        for version in ("3.0", "4.0"):
            put = http.put(f"{url}v{version}.vcf", content=card(version, version=version))
            assert put.status_code == 201
            assert put.headers["ETag"] == http.get(f"{url}v{version}.vcf").headers["ETag"]


def test_discovery_is_as_documented(dav_server: DavServer) -> None:
    with httpx.Client(timeout=5) as http:
        well_known = http.get(dav_server.base_url + ".well-known/carddav")
        assert well_known.status_code in (301, 302)
        assert well_known.headers["Location"] == "/"
        root = http.request(
            "PROPFIND", dav_server.base_url, content=CURRENT_USER, headers={**XML, "Depth": "0"}
        )
        if dav_server.name == "radicale":
            # Radicale asks an anonymous client for credentials, even with auth none.
            assert root.status_code == 401
            http.auth = ("alice", "anything")
        home = propfind(http, dav_server.base_url, "0", CURRENT_USER)
        principal = home.findtext(f".//{{{DAV}}}current-user-principal/{{{DAV}}}href")
        assert principal == path_of(dav_server.principal_url)
        found = propfind(http, dav_server.principal_url, "0", CURRENT_USER)
    assert found.findtext(f".//{{{CARDDAV}}}addressbook-home-set/{{{DAV}}}href") == path_of(
        dav_server.home_url
    )


def test_radicale_with_auth_wants_alices_password(radicale_auth: DavServer) -> None:
    url = radicale_auth.make_addressbook(fresh_name())
    assert radicale_auth.auth == ("alice", "s3cret pass")

    anonymous = httpx.request("PROPFIND", url, headers={"Depth": "0"})
    wrong = httpx.request("PROPFIND", url, headers={"Depth": "0"}, auth=("alice", "s3cret"))
    right = httpx.request("PROPFIND", url, headers={"Depth": "0"}, auth=radicale_auth.auth)

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")
    assert wrong.status_code == 401
    assert right.status_code == 207


def test_proxy_forwards_every_method_and_counts(
    fault_proxy: FaultProxy, radicale: DavServer
) -> None:
    book = fault_proxy.rebase(radicale.make_addressbook("book"))
    with httpx.Client(timeout=5) as http:
        assert http.options(book).status_code == 200
        assert http.put(book + "a.vcf", content=card("a"), headers=VCARD).status_code == 201
        get = http.get(book + "a.vcf")
        assert get.status_code == 200 and "UID:a" in get.text
        assert http.head(book + "a.vcf").headers["ETag"] == get.headers["ETag"]
        found = responses(propfind(http, book))
        assert "/alice/book/a.vcf" in found
        assert http.request("DELETE", book + "a.vcf").status_code in (200, 204)
        # Radicale closes after every answer; the proxy keeps the client's connection open.
        assert get.http_version == "HTTP/1.1" and get.headers.get("Connection") != "close"

    assert fault_proxy.requests == [
        ("OPTIONS", "/alice/book/"),
        ("PUT", "/alice/book/a.vcf"),
        ("GET", "/alice/book/a.vcf"),
        ("HEAD", "/alice/book/a.vcf"),
        ("PROPFIND", "/alice/book/"),
        ("DELETE", "/alice/book/a.vcf"),
    ]
    assert fault_proxy.count("put") == 1
    assert fault_proxy.count() == 6


def test_fail_answers_for_the_chosen_requests_only(
    fault_proxy: FaultProxy, radicale: DavServer
) -> None:
    book = fault_proxy.rebase(radicale.make_addressbook("book"))
    fault_proxy.fail(503, method="PUT", after=1, times=2, body="busy", headers={"Retry-After": "1"})
    with httpx.Client(timeout=5) as http:
        statuses = [
            http.put(f"{book}{i}.vcf", content=card(str(i)), headers=VCARD) for i in range(4)
        ]
        assert http.get(book + "0.vcf").status_code == 200

    assert [r.status_code for r in statuses] == [201, 503, 503, 201]
    assert statuses[1].text == "busy" and statuses[1].headers["Retry-After"] == "1"
    assert fault_proxy.count("PUT") == 2
    assert fault_proxy.count("PUT", received=True) == 4
    assert sorted(radicale.hrefs(radicale.addressbook_url("book"))) == [
        "/alice/book/0.vcf",
        "/alice/book/3.vcf",
    ]


def test_fail_until_cleared(fault_proxy: FaultProxy) -> None:
    fault_proxy.fail()
    with httpx.Client(timeout=5) as http:
        assert [http.get(fault_proxy.url).status_code for _ in range(3)] == [500, 500, 500]
        fault_proxy.clear()
        assert http.get(fault_proxy.url).status_code != 500


def test_delay_makes_a_client_time_out(fault_proxy: FaultProxy) -> None:
    fault_proxy.delay(0.6, method="GET", times=1)
    with httpx.Client(timeout=0.15) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get(fault_proxy.url)
        assert http.get(fault_proxy.url).status_code != 500


def test_drop_hangs_up_without_an_answer(fault_proxy: FaultProxy, radicale: DavServer) -> None:
    book = fault_proxy.rebase(radicale.make_addressbook("book"))
    fault_proxy.drop(method="PUT", times=1)
    with httpx.Client(timeout=5) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.put(book + "a.vcf", content=card("a"), headers=VCARD)
        assert http.put(book + "a.vcf", content=card("a"), headers=VCARD).status_code == 201
    assert fault_proxy.count("PUT", received=True) == 2
    assert fault_proxy.count("PUT") == 1


def test_before_lets_another_client_edit_between_read_and_write(
    fault_proxy: FaultProxy, radicale: DavServer
) -> None:
    upstream = radicale.make_addressbook("book")
    radicale.put_many(upstream, [card("a")])
    book = fault_proxy.rebase(upstream)
    seen: list[str] = []

    def someone_else_edits(path: str) -> None:
        seen.append(path)
        httpx.put(upstream + "a.vcf", content=card("a", "Ann Other"), headers=VCARD)

    fault_proxy.before("PUT", someone_else_edits)
    with httpx.Client(timeout=5) as http:
        etag = http.get(book + "a.vcf").headers["ETag"]
        ours = http.put(
            book + "a.vcf", content=card("a", "Ann Ours"), headers={**VCARD, "If-Match": etag}
        )
        again = http.put(book + "a.vcf", content=card("a", "Ann Ours"), headers=VCARD)

    assert seen == ["/alice/book/a.vcf"]
    assert ours.status_code == 412
    assert again.status_code == 204


def test_digest_is_required_when_asked(fault_proxy: FaultProxy) -> None:
    fault_proxy.digest("alice", "s3cret pass")
    url = fault_proxy.url + "alice/"
    with httpx.Client(timeout=5) as http:
        missing = http.request("PROPFIND", url, headers={"Depth": "0"})
        basic = http.request("PROPFIND", url, headers={"Depth": "0"}, auth=("alice", "s3cret pass"))
        wrong = http.request(
            "PROPFIND", url, headers={"Depth": "0"}, auth=httpx.DigestAuth("alice", "wrong")
        )
        right = httpx.DigestAuth("alice", "s3cret pass")
        ok = [http.request("PROPFIND", url, headers={"Depth": "0"}, auth=right) for _ in range(2)]
        fault_proxy.digest(None)
        open_again = http.request("PROPFIND", url, headers={"Depth": "0"})

    assert missing.status_code == 401
    challenge = missing.headers["WWW-Authenticate"]
    assert challenge.startswith("Digest ") and 'qop="auth"' in challenge and "nonce=" in challenge
    assert basic.status_code == 401
    assert wrong.status_code == 401
    assert [r.status_code for r in ok] == [207, 207]
    assert open_again.status_code == 207
    assert fault_proxy.count("PROPFIND") == 3


def test_digest_in_front_of_a_basic_server_uses_its_password(radicale_auth: DavServer) -> None:
    with FaultProxy(radicale_auth) as proxy:
        proxy.digest("bob", "digest pass")
        auth = httpx.DigestAuth("bob", "digest pass")
        answer = httpx.request(
            "PROPFIND", proxy.url + "alice/", headers={"Depth": "0"}, auth=auth, timeout=5
        )
    assert answer.status_code == 207
