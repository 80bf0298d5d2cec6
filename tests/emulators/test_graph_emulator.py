"""The Graph emulator against what Microsoft's Graph pages (and Graph's observed answers) say,
through a real https client that trusts the emulator's test authority."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.graph import GraphEmulator

EXT = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name PieSyncId"


@pytest.fixture
def emulator() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emu:
        yield emu
    assert not emu.internal_errors, emu.internal_errors


def client_for(emu: GraphEmulator, token: str | None = "token", **options: Any) -> httpx.Client:
    context = ssl.create_default_context()
    emu.ca.configure_trust(context)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=emu.url, verify=context, headers=headers, timeout=5, **options)


@pytest.fixture
def api(emulator: GraphEmulator) -> Iterator[httpx.Client]:
    with client_for(emulator) as client:
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"code", "message"}
    return error


def contacts_url(folder_id: str) -> str:
    return f"/me/contactFolders/{folder_id}/contacts"


def delta_round(
    api: httpx.Client, first: str, page_size: int | None = None
) -> tuple[list[list[dict[str, Any]]], str]:
    """Every page of a delta round; the pages' values and the deltaLink."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    pages: list[list[dict[str, Any]]] = []
    url = first
    while True:
        response = api.get(url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return pages, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


def batch(api: httpx.Client, requests: list[dict[str, Any]]) -> httpx.Response:
    return api.post("/$batch", json={"requests": requests})


def create_request(rid: str, folder_id: str, given: str) -> dict[str, Any]:
    return {
        "id": rid,
        "method": "POST",
        "url": contacts_url(folder_id),
        "headers": {"Content-Type": "application/json"},
        "body": {"givenName": given},
    }


# ---- TLS, keep-alive, the CA file, auth ---------------------------------------------------------


def test_https_with_the_test_authority_and_keep_alive(
    emulator: GraphEmulator, tmp_path: Path
) -> None:
    pem = emulator.ca_file(tmp_path / "ca.pem")
    assert pem.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert emulator.url.startswith("https://127.0.0.1:") and emulator.url.endswith("/v1.0")
    context = ssl.create_default_context(cafile=str(pem))
    headers = {"Authorization": "Bearer t"}
    with httpx.Client(verify=context, headers=headers) as api:
        for _ in range(10):
            assert api.get(emulator.url + "/me/contactFolders").status_code == 200
    assert emulator.connections == 1
    with pytest.raises(httpx.ConnectError):  # a client that does not trust the authority
        httpx.get(emulator.url + "/me", headers=headers)


def test_bearer_token_required_and_checked() -> None:
    with GraphEmulator(token_valid=lambda token: token == "good") as emu:
        for token in (None, "bad"):
            with client_for(emu, token=token) as client:
                response = client.get("/me/contactFolders")
                assert response.status_code == 401
                assert error_of(response)["code"] == "InvalidAuthenticationToken"
                assert response.headers["www-authenticate"].startswith("Bearer ")
        with client_for(emu, token="good") as good:
            me = good.get("/me").json()
            assert me["userPrincipalName"] == me["mail"] == "ada@example.com"
            assert me["displayName"] == "Ada Lovelace" and me["id"]
        assert not emu.internal_errors


def test_unknown_segments_and_versions(api: httpx.Client, emulator: GraphEmulator) -> None:
    response = api.get("/me/calendars")
    assert response.status_code == 400 and "segment" in error_of(response)["message"]
    response = api.get(emulator.url.replace("/v1.0", "/v9.9/me"))
    assert response.status_code == 400 and "Invalid version" in error_of(response)["message"]


# ---- folders ------------------------------------------------------------------------------------


def test_folders_child_folders_and_the_well_known_name(
    emulator: GraphEmulator, api: httpx.Client
) -> None:
    default = emulator.default_folder_id
    assert api.get("/me/contactFolders").json()["value"] == []  # the children of Contacts
    work = emulator.add_folder("Work")
    team = emulator.add_folder("Team", parent_id=work)
    listed = api.get("/me/contactFolders").json()["value"]
    assert listed == [{"id": work, "displayName": "Work", "parentFolderId": default}]
    well_known = api.get("/me/contactFolders/contacts").json()
    assert well_known["id"] == default and well_known["displayName"] == "Contacts"
    assert api.get(f"/me/contactFolders('{work}')").json()["displayName"] == "Work"
    children = api.get(f"/me/contactFolders/{work}/childFolders").json()["value"]
    assert [(c["id"], c["parentFolderId"]) for c in children] == [(team, work)]
    nested = api.get(f"/me/contactFolders/{work}/childFolders/{team}").json()
    assert nested["displayName"] == "Team"

    created = api.post("/me/contactFolders", json={"displayName": "Family"})
    assert created.status_code == 201 and created.json()["parentFolderId"] == default
    assert api.post("/me/contactFolders", json={"displayName": "family"}).status_code == 409
    child = api.post(f"/me/contactFolders/{work}/childFolders", json={"displayName": "Old"})
    assert child.status_code == 201 and child.json()["parentFolderId"] == work
    first = api.get("/me/contactFolders", params={"$top": 1}).json()
    assert len(first["value"]) == 1 and "$skip=1" in first["@odata.nextLink"]
    second = api.get(first["@odata.nextLink"]).json()
    assert second["value"][0]["displayName"] == "Family" and "@odata.nextLink" not in second
    assert {f["displayName"] for f in emulator.folders()} == {
        "Contacts",
        "Work",
        "Team",
        "Family",
        "Old",
    }
    assert api.get("/me/contactFolders/nope").status_code == 400  # ErrorInvalidIdMalformed
    assert error_of(api.get(f"/me/contactFolders/{team}/childFolders/{work}"))["code"] == (
        "ErrorItemNotFound"
    )


# ---- contacts: create, list, get, update, delete ------------------------------------------------


def test_create_list_get_patch_delete(emulator: GraphEmulator, api: httpx.Client) -> None:
    folder = emulator.default_folder_id
    body = {
        "givenName": "Grace",
        "surname": "Hopper",
        "emailAddresses": [{"name": "Grace", "address": "grace@example.com"}],
        "businessPhones": ["+1 555 0100"],
        "homeAddress": {"street": "1 Navy Way", "city": "Arlington", "countryOrRegion": "US"},
        "birthday": "1906-12-09T11:59:00+02:00",
        "categories": ["Friends"],
    }
    response = api.post(contacts_url(folder), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    cid = created["id"]
    assert created["displayName"] == "Grace Hopper"  # made from the name parts
    assert created["parentFolderId"] == folder
    assert created["@odata.etag"] == f'W/"{created["changeKey"]}"'
    assert created["birthday"] == "1906-12-09T09:59:00Z"  # stored in UTC
    assert created["middleName"] is None and created["homePhones"] == []
    assert created["otherAddress"] == {} and created["createdDateTime"].endswith("Z")
    assert api.get(f"/me/contacts/{cid}").json()["emailAddresses"] == body["emailAddresses"]

    listed = api.get(contacts_url(folder), params={"$select": "displayName,surname"}).json()
    assert [set(c) for c in listed["value"]] == [{"@odata.etag", "id", "displayName", "surname"}]
    assert api.get(f"{contacts_url(folder)}/{cid}").json()["surname"] == "Hopper"
    other = emulator.add_folder("Other")
    assert error_of(api.get(f"{contacts_url(other)}/{cid}"))["code"] == "ErrorItemNotFound"

    patched = api.patch(f"/me/contacts/{cid}", json={"surname": "Murray", "jobTitle": "RADM"})
    assert patched.status_code == 200
    updated = patched.json()
    assert updated["changeKey"] != created["changeKey"]
    assert updated["displayName"] == "Grace Murray"  # name parts changed without displayName
    assert updated["jobTitle"] == "RADM" and updated["businessPhones"] == ["+1 555 0100"]
    kept = api.patch(f"/me/contacts/{cid}", json={"givenName": "G.", "displayName": "Amazing"})
    assert kept.json()["displayName"] == "Amazing"

    assert api.delete(f"{contacts_url(folder)}/{cid}").status_code == 204
    gone = api.get(f"/me/contacts/{cid}")
    assert gone.status_code == 404 and error_of(gone)["code"] == "ErrorItemNotFound"
    assert error_of(api.get("/me/contacts/x"))["code"] == "ErrorInvalidIdMalformed"
    assert emulator.contact(cid) is None


def test_lists_page_with_top_and_skip(emulator: GraphEmulator, api: httpx.Client) -> None:
    folder = emulator.default_folder_id
    ids = [emulator.add_contact(folder, {"givenName": f"P{i}"}) for i in range(12)]
    first = api.get("/me/contacts").json()
    assert len(first["value"]) == 10  # Outlook's default page
    second = api.get(first["@odata.nextLink"]).json()
    assert [c["id"] for c in first["value"] + second["value"]] == ids
    assert "@odata.nextLink" not in second


def test_graph_refuses_what_graph_refuses(emulator: GraphEmulator, api: httpx.Client) -> None:
    url = contacts_url(emulator.default_folder_id)
    unknown = api.post(url, json={"givenName": "A", "favouriteColour": "green"})
    assert unknown.status_code == 400 and error_of(unknown)["code"] == "RequestBodyRead"
    assert "Microsoft.OutlookServices.Contact" in error_of(unknown)["message"]
    emails = [{"address": f"a{i}@example.com"} for i in range(4)]
    too_many = api.post(url, json={"givenName": "A", "emailAddresses": emails})
    assert too_many.status_code == 400
    assert "exceeds the max allowed value of 3" in error_of(too_many)["message"]
    phones = api.post(url, json={"businessPhones": ["1", "2", "3"]})
    assert phones.status_code == 400
    bad_address = api.post(url, json={"homeAddress": {"town": "X"}})
    assert "PhysicalAddress" in error_of(bad_address)["message"]
    assert api.post(url, json={"birthday": "someday"}).status_code == 400
    garbled = api.post(url, content=b"{not", headers={"Content-Type": "application/json"})
    assert garbled.status_code == 400
    assert api.get(url, params={"$select": "nope"}).status_code == 400
    assert api.get(url, params={"$orderby": "displayName"}).status_code == 400
    assert emulator.contacts(emulator.default_folder_id) == []


def test_if_match_and_another_client_writing_first(
    emulator: GraphEmulator, api: httpx.Client
) -> None:
    cid = emulator.add_contact(emulator.default_folder_id, {"givenName": "Ada"})
    etag = api.get(f"/me/contacts/{cid}").json()["@odata.etag"]
    emulator.edit_contact(cid, {"nickName": "Countess"})
    stale = api.patch(f"/me/contacts/{cid}", json={"surname": "L"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and error_of(stale)["code"] == "ErrorIrresolvableConflict"
    assert api.delete(f"/me/contacts/{cid}", headers={"If-Match": etag}).status_code == 412
    fresh = api.get(f"/me/contacts/{cid}").json()["@odata.etag"]
    ok = api.patch(f"/me/contacts/{cid}", json={"surname": "L"}, headers={"If-Match": fresh})
    assert ok.status_code == 200 and ok.json()["nickName"] == "Countess"

    current = ok.json()["@odata.etag"]
    emulator.before_write(lambda method, path: emulator.edit_contact(cid, {"title": "Lady"}))
    raced = api.patch(f"/me/contacts/{cid}", json={"surname": "K"}, headers={"If-Match": current})
    assert raced.status_code == 412
    assert (emulator.contact(cid) or {})["title"] == "Lady"


# ---- delta --------------------------------------------------------------------------------------


def test_delta_rounds_pages_changes_and_removals(
    emulator: GraphEmulator, api: httpx.Client
) -> None:
    folder = emulator.default_folder_id
    elsewhere = emulator.add_folder("Elsewhere")
    ids = [emulator.add_contact(folder, {"givenName": f"P{i:02}"}) for i in range(25)]
    first = f"{contacts_url(folder)}/delta?$select=givenName,surname"
    response = api.get(first, headers={"Prefer": "odata.maxpagesize=10"})
    assert "odata.maxpagesize=10" in response.headers["preference-applied"]
    next_link = response.json()["@odata.nextLink"]
    assert "$skiptoken=" in next_link and "select" not in next_link
    pages, delta_link = delta_round(api, first, page_size=10)
    assert [len(page) for page in pages] == [10, 10, 5]
    seen = [item for page in pages for item in page]
    assert [item["id"] for item in seen] == ids
    assert set(seen[0]) == {"@odata.type", "@odata.etag", "id", "givenName", "surname"}
    assert "$deltatoken=" in delta_link

    emulator.add_contact(folder, {"givenName": "New"})
    emulator.edit_contact(ids[3], {"surname": "Edited"})
    emulator.delete_contact(ids[5])
    moved = emulator.move_contact(ids[7], elsewhere)
    assert moved != ids[7]  # Outlook ids change on move
    pages, delta_link = delta_round(api, delta_link, page_size=10)
    changes = [item for page in pages for item in page]
    full = {item["id"]: item for item in changes if "@removed" not in item}
    removed = [item["id"] for item in changes if "@removed" in item]
    assert sorted(removed) == sorted([ids[5], ids[7]])
    assert all(i["@removed"] == {"reason": "deleted"} for i in changes if "@removed" in i)
    assert full[ids[3]]["surname"] == "Edited" and set(full[ids[3]]) == set(seen[0])
    assert [item["givenName"] for item in full.values()] == ["New", "P03"]

    pages, _ = delta_round(api, delta_link)
    assert pages == [[]]  # nothing changed since
    moved_in, _ = delta_round(api, f"{contacts_url(elsewhere)}/delta")
    assert [item["id"] for item in moved_in[0]] == [moved]


def test_delta_pages_are_a_snapshot(emulator: GraphEmulator, api: httpx.Client) -> None:
    folder = emulator.default_folder_id
    ids = [emulator.add_contact(folder, {"givenName": f"P{i}"}) for i in range(4)]
    headers = {"Prefer": "odata.maxpagesize=2"}
    page = api.get(f"{contacts_url(folder)}/delta", headers=headers).json()
    emulator.edit_contact(ids[3], {"surname": "During"})
    emulator.add_contact(folder, {"givenName": "Late"})
    rest = api.get(page["@odata.nextLink"], headers=headers).json()
    assert [c["id"] for c in rest["value"]] == ids[2:]
    assert rest["value"][1]["surname"] is None  # as it was when the round began
    pages, _ = delta_round(api, rest["@odata.deltaLink"])
    assert [c["givenName"] for c in pages[0]] == ["P3", "Late"]


def test_expired_and_unknown_tokens_answer_410(emulator: GraphEmulator, api: httpx.Client) -> None:
    folder = emulator.default_folder_id
    for i in range(3):
        emulator.add_contact(folder, {"givenName": f"P{i}"})
    headers = {"Prefer": "odata.maxpagesize=2"}
    page = api.get(f"{contacts_url(folder)}/delta", headers=headers).json()
    _, delta_link = delta_round(api, page["@odata.nextLink"], page_size=2)
    emulator.expire_delta_tokens()
    for link in (delta_link, page["@odata.nextLink"]):
        response = api.get(link)
        assert response.status_code == 410 and error_of(response)["code"] == "SyncStateNotFound"
    garbage = api.get(f"{contacts_url(folder)}/delta", params={"$deltatoken": "abc"})
    assert garbage.status_code == 410
    repeated = api.get(delta_link.replace("?", "?$select=givenName&"))
    assert repeated.status_code == 400  # the token carries the query
    expand = api.get(
        f"{contacts_url(folder)}/delta",
        params={"$expand": f"singleValueExtendedProperties($filter=id eq '{EXT}')"},
    )
    assert expand.status_code == 400  # contact delta documents $select only


# ---- JSON batching ------------------------------------------------------------------------------


def test_batch_of_twenty_answers_out_of_order(emulator: GraphEmulator, api: httpx.Client) -> None:
    folder = emulator.default_folder_id
    requests = [create_request(str(i), folder, f"B{i}") for i in range(20)]
    response = batch(api, requests)
    assert response.status_code == 200
    responses = response.json()["responses"]
    assert [r["id"] for r in responses] != [r["id"] for r in requests]  # order is not kept
    assert sorted(r["id"] for r in responses) == sorted(r["id"] for r in requests)
    by_id = {r["id"]: r for r in responses}
    assert all(r["status"] == 201 for r in responses)
    assert by_id["7"]["body"]["givenName"] == "B7"
    assert by_id["7"]["headers"]["Content-Type"].startswith("application/json")
    assert len(emulator.contacts(folder)) == 20
    assert emulator.count("POST") == 1 and emulator.count_inner("POST") == 20
    assert emulator.inner_requests[0] == ("POST", contacts_url(folder))

    too_many = batch(api, [create_request(str(i), folder, "X") for i in range(21)])
    assert too_many.status_code == 400 and "limit" in error_of(too_many)["message"]
    duplicate = batch(api, [create_request("a", folder, "X"), create_request("A", folder, "Y")])
    assert duplicate.status_code == 400
    no_type = create_request("1", folder, "X")
    no_type["headers"] = {}
    assert batch(api, [no_type]).status_code == 400
    assert len(emulator.contacts(folder)) == 20  # refused batches do nothing


def test_batch_inner_requests_behave_like_top_level_ones(
    emulator: GraphEmulator, api: httpx.Client
) -> None:
    folder = emulator.default_folder_id
    cid = emulator.add_contact(folder, {"givenName": "Ada"})
    stale = api.get(f"/me/contacts/{cid}").json()["@odata.etag"]
    emulator.edit_contact(cid, {"surname": "L"})
    requests = [
        {
            "id": "patch",
            "method": "PATCH",
            "url": f"/me/contacts/{cid}",
            "headers": {"Content-Type": "application/json", "If-Match": stale},
            "body": {"surname": "X"},
        },
        {"id": "missing", "method": "GET", "url": "/me/contacts/AAMkAGAAAAAAAAAAAAAAAAAA="},
        {**create_request("bad", folder, "B"), "body": {"colour": "red"}},
        {"id": "get", "method": "GET", "url": f"me/contactFolders('{folder}')/contacts?$top=1"},
        {"id": "after", "dependsOn": ["patch"], "method": "DELETE", "url": f"/me/contacts/{cid}"},
    ]
    by_id = {r["id"]: r for r in batch(api, requests).json()["responses"]}
    assert by_id["patch"]["status"] == 412
    assert by_id["patch"]["body"]["error"]["code"] == "ErrorIrresolvableConflict"
    assert by_id["missing"]["status"] == 404
    assert by_id["bad"]["status"] == 400
    assert by_id["get"]["status"] == 200 and len(by_id["get"]["body"]["value"]) == 1
    assert by_id["after"]["status"] == 424  # its dependency failed
    assert emulator.contact(cid) is not None


# ---- throttling, concurrency, faults ------------------------------------------------------------


def test_throttling_at_the_top_level_and_inside_a_batch(
    emulator: GraphEmulator, api: httpx.Client
) -> None:
    folder = emulator.default_folder_id
    emulator.throttle(times=1, retry_after=2, path_contains="/contacts")
    response = api.get(contacts_url(folder))
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert error_of(response)["code"] == "TooManyRequests"
    assert api.get(contacts_url(folder)).status_code == 200

    emulator.throttle(times=1, retry_after=3, inside_batch=True, after=1)
    requests = [create_request(str(i), folder, f"T{i}") for i in range(3)]
    by_id = {r["id"]: r for r in batch(api, requests).json()["responses"]}
    assert [by_id[str(i)]["status"] for i in range(3)] == [201, 429, 201]
    assert by_id["1"]["headers"]["Retry-After"] == "3"
    assert len(emulator.contacts(folder)) == 2


def test_concurrency_limit_per_mailbox(emulator: GraphEmulator) -> None:
    folder = emulator.default_folder_id
    emulator.limit_concurrency(2)
    emulator.delay(0.5, path_contains="/contacts")
    statuses: list[int] = []

    def one() -> None:
        with client_for(emulator) as client:
            statuses.append(client.get(contacts_url(folder)).status_code)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 429]
    assert emulator.max_in_flight == 3

    emulator.clear_faults()
    emulator.limit_concurrency(4)
    emulator.delay(0.4, path_contains="/contacts?held", times=1)
    with client_for(emulator) as api:
        held = threading.Thread(target=lambda: api.get(contacts_url(folder) + "?held=1"))
        held.start()
        deadline = time.monotonic() + 2
        while emulator.in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        with client_for(emulator) as other:
            requests = [create_request(str(i), folder, f"C{i}") for i in range(6)]
            statuses_by_id = {
                r["id"]: r["status"] for r in batch(other, requests).json()["responses"]
            }
        held.join()
    # Graph hands a batch to Outlook four at a time: with one request already in flight, the
    # fourth of the first wave is over the limit.
    assert [statuses_by_id[str(i)] for i in range(6)] == [201, 201, 201, 429, 201, 201]


def test_failures_and_dropped_connections(emulator: GraphEmulator, api: httpx.Client) -> None:
    folder = emulator.default_folder_id
    emulator.fail(500, times=1, path_contains="/contacts")
    failed = api.get(contacts_url(folder))
    assert failed.status_code == 500 and error_of(failed)["code"]
    assert api.get(contacts_url(folder)).status_code == 200

    emulator.drop(times=1, path_contains="/contacts")
    with pytest.raises(httpx.TransportError):
        api.get(contacts_url(folder))
    emulator.drop(times=1, path_contains="/contacts", when="after")
    with pytest.raises(httpx.TransportError):
        api.post(contacts_url(folder), json={"givenName": "Lost answer"})
    assert [c["givenName"] for c in emulator.contacts(folder)] == ["Lost answer"]

    emulator.fail(503, inside_batch=True, path_contains="/contacts")
    requests = [create_request("1", folder, "X")]
    assert batch(api, requests).json()["responses"][0]["status"] == 503
    assert api.get(contacts_url(folder)).status_code == 200
    emulator.clear_requests()
    assert emulator.requests == [] and emulator.count() == 0


# ---- extended properties ------------------------------------------------------------------------


def test_extended_properties_on_create_filter_and_expand(
    emulator: GraphEmulator, api: httpx.Client
) -> None:
    folder = emulator.default_folder_id
    body = {"givenName": "Ada", "singleValueExtendedProperties": [{"id": EXT, "value": "abc-1"}]}
    created = api.post(contacts_url(folder), json=body).json()
    assert "singleValueExtendedProperties" not in created  # creates do not echo them
    emulator.add_contact(folder, {"givenName": "Other"})

    def find(value: str) -> list[str]:
        flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{EXT}' and ep/value eq '{value}')"
        return [
            c["givenName"]
            for c in api.get(contacts_url(folder), params={"$filter": flt}).json()["value"]
        ]

    assert find("abc-1") == ["Ada"] and find("ABC-1") == ["Ada"]  # values: case-insensitive
    assert find("abc-2") == []
    assert "singleValueExtendedProperties" not in api.get(f"/me/contacts/{created['id']}").json()

    expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{EXT}')"}
    got = api.get(f"/me/contacts/{created['id']}", params=expand).json()
    assert got["singleValueExtendedProperties"] == [{"id": EXT, "value": "abc-1"}]
    listed = api.get(contacts_url(folder), params=expand).json()["value"]
    assert [("singleValueExtendedProperties" in c) for c in listed] == [True, False]
    other_name = EXT.replace("PieSyncId", "piesyncid")  # the Name is case-sensitive
    assert (
        "singleValueExtendedProperties"
        not in api.get(
            f"/me/contacts/{created['id']}",
            params={"$expand": f"singleValueExtendedProperties($filter=id eq '{other_name}')"},
        ).json()
    )

    second = EXT.replace("PieSyncId", "Hash")
    api.patch(
        f"/me/contacts/{created['id']}",
        json={"singleValueExtendedProperties": [{"id": second, "value": "h"}]},
    )
    stored = emulator.contact(created["id"]) or {}
    assert [p["id"] for p in stored["singleValueExtendedProperties"]] == [EXT, second]
    bad = api.post(contacts_url(folder), json={"singleValueExtendedProperties": [{"id": "x"}]})
    assert bad.status_code == 400


def test_filter_forms_user_paths_and_sequential_batches(
    emulator: GraphEmulator, api: httpx.Client
) -> None:
    folder = emulator.default_folder_id
    for value in ("alpha-1", "beta-2"):
        ext = [{"id": EXT, "value": value}]
        emulator.add_contact(folder, {"givenName": value, "singleValueExtendedProperties": ext})
    emulator.add_contact(folder, {"givenName": "none"})

    def names(condition: str) -> list[str]:
        flt = f"singleValueExtendedProperties/any(ep:ep/id eq '{EXT}'{condition})"
        response = api.get(
            f"/users/ada@example.com/contactFolders/{folder}/contacts", params={"$filter": flt}
        )
        assert response.status_code == 200, response.text
        return [c["givenName"] for c in response.json()["value"]]

    assert names("") == ["alpha-1", "beta-2"]
    assert names(" and contains(ep/value, 'TA-')") == ["beta-2"]
    assert names(" and startswith(ep/value, 'al')") == ["alpha-1"]
    assert names(" and ep/value ne 'alpha-1'") == ["beta-2"]
    assert api.get("/users/someone@example.com/contacts").status_code == 404

    first = create_request("1", folder, "S1")
    second = {**create_request("2", folder, "S2"), "dependsOn": ["1"]}
    absolute = {"id": "3", "method": "GET", "url": emulator.url + "/me", "dependsOn": ["2"]}
    emulator.max_in_flight = 0
    by_id = {r["id"]: r for r in batch(api, [first, second, absolute]).json()["responses"]}
    assert (by_id["1"]["status"], by_id["2"]["status"], by_id["3"]["status"]) == (201, 201, 400)
    assert emulator.max_in_flight == 1  # a dependsOn batch runs one request at a time
