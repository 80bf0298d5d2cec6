"""The People API emulator against what Google's reference pages (and Google's observed answers)
say, through a real https client that trusts the emulator's test authority."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.people import MY_CONTACTS, PeopleEmulator

CONNECTIONS = "v1/people/me/connections"
BATCH_CREATE = "v1/people:batchCreateContacts"
BATCH_UPDATE = "v1/people:batchUpdateContacts"


@pytest.fixture
def emulator() -> Iterator[PeopleEmulator]:
    with PeopleEmulator() as emu:
        yield emu
    assert not emu.internal_errors, emu.internal_errors


def client_for(emu: PeopleEmulator, token: str | None = "token", **options: Any) -> httpx.Client:
    context = ssl.create_default_context()
    emu.ca.configure_trust(context)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=emu.url, verify=context, headers=headers, timeout=5, **options)


@pytest.fixture
def api(emulator: PeopleEmulator) -> Iterator[httpx.Client]:
    with client_for(emulator) as client:
        yield client


def person(given: str, email: str | None = None, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"names": [{"givenName": given}], **fields}
    if email:
        data["emailAddresses"] = [{"value": email, "type": "home"}]
    return data


def list_all(api: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every page of a connections listing; the people and the last page."""
    params = {"personFields": "names,emailAddresses,metadata", **params}
    people: list[dict[str, Any]] = []
    while True:
        response = api.get(CONNECTIONS, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        people += page.get("connections", [])
        if "nextPageToken" not in page:
            return people, page
        params = {**params, "pageToken": page["nextPageToken"]}


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == response.status_code
    return error


def reasons(error: dict[str, Any]) -> list[str]:
    return [d.get("reason") for d in error.get("details", [])]


# ---- TLS, keep-alive, the CA file ---------------------------------------------------------------


def test_https_with_the_test_authority_and_keep_alive(
    emulator: PeopleEmulator, tmp_path: Path
) -> None:
    pem = emulator.ca_file(tmp_path / "ca.pem")
    assert pem.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert emulator.url.startswith("https://127.0.0.1:") and emulator.url.endswith("/")
    context = ssl.create_default_context(cafile=str(pem))
    headers = {"Authorization": "Bearer t"}
    with httpx.Client(base_url=emulator.url, verify=context, headers=headers) as api:
        for _ in range(20):
            assert api.get(CONNECTIONS, params={"personFields": "names"}).status_code == 200
    assert emulator.connections == 1  # HTTP/1.1 keep-alive: one connection for all 20
    with pytest.raises(httpx.ConnectError):  # a client that does not trust the authority
        httpx.get(emulator.url + CONNECTIONS, headers=headers)


def test_unknown_urls_answer_googles_html_404(api: httpx.Client) -> None:
    response = api.get("v1/c123:updateContact")
    assert response.status_code == 404
    assert "was not found on this server" in response.text


# ---- auth ---------------------------------------------------------------------------------------


def test_bearer_token_required_and_checked() -> None:
    with PeopleEmulator(token_valid=lambda token: token == "good") as emu:
        with client_for(emu, token=None) as anonymous:
            response = anonymous.get(CONNECTIONS, params={"personFields": "names"})
            assert response.status_code == 401
            assert error_of(response)["status"] == "UNAUTHENTICATED"
            assert reasons(error_of(response)) == ["CREDENTIALS_MISSING"]
        with client_for(emu, token="bad") as bad:
            response = bad.get(CONNECTIONS, params={"personFields": "names"})
            error = error_of(response)
            assert response.status_code == 401 and error["status"] == "UNAUTHENTICATED"
            assert reasons(error) == ["ACCESS_TOKEN_EXPIRED"]
            assert error["details"][0]["metadata"]["method"].endswith("ListConnections")
            assert response.headers["www-authenticate"].startswith("Bearer")
        with client_for(emu, token="good") as good:
            assert good.get(CONNECTIONS, params={"personFields": "names"}).status_code == 200
        assert not emu.internal_errors


# ---- connections.list: masks, paging, totals ----------------------------------------------------


def test_paging_and_field_masks(emulator: PeopleEmulator, api: httpx.Client) -> None:
    names = [emulator.add_person(person(f"P{i}", f"p{i}@example.com")) for i in range(25)]
    response = api.get(CONNECTIONS, params={"personFields": "names", "pageSize": 10})
    page = response.json()
    assert len(page["connections"]) == 10 and page["totalItems"] == page["totalPeople"] == 25
    first = page["connections"][0]
    assert set(first) == {"resourceName", "etag", "names"}  # the mask; resourceName, etag always
    assert first["names"][0]["displayName"] == "P0"
    assert first["names"][0]["metadata"]["primary"] is True
    assert "nextSyncToken" not in page  # not asked for

    people, last = list_all(api, pageSize=10)
    assert [p["resourceName"] for p in people] == names  # LAST_MODIFIED_ASCENDING by default
    assert "nextPageToken" not in last and "nextSyncToken" not in last
    assert people[0]["emailAddresses"][0]["formattedType"] == "Home"
    assert people[0]["metadata"]["sources"][0]["type"] == "CONTACT"

    missing = api.get(CONNECTIONS)
    assert missing.status_code == 400
    assert "personFields mask is required" in error_of(missing)["message"]
    bad_path = api.get(CONNECTIONS, params={"personFields": "names,nope"})
    assert bad_path.status_code == 400 and '"nope"' in error_of(bad_path)["message"]
    assert (
        api.get(CONNECTIONS, params={"personFields": "names", "pageSize": 1001}).status_code == 400
    )
    assert (
        api.get(CONNECTIONS, params={"personFields": "names", "pageSize": 1000}).status_code == 200
    )
    # "When the pageToken is specified, all other request parameters must match the first call"
    changed = api.get(
        CONNECTIONS,
        params={"personFields": "names,urls", "pageToken": page["nextPageToken"]},
    )
    assert changed.status_code == 400 and error_of(changed)["status"] == "INVALID_ARGUMENT"


def test_empty_account_lists_nothing_in_proto3_json(api: httpx.Client) -> None:
    page = api.get(CONNECTIONS, params={"personFields": "names", "requestSyncToken": True}).json()
    assert set(page) == {"nextSyncToken"}  # no connections: no list, no zero totals


def test_an_edit_while_paging_comes_back_in_the_next_delta(
    emulator: PeopleEmulator, api: httpx.Client
) -> None:
    names = [emulator.add_person(person(f"P{i}")) for i in range(6)]
    params = {"personFields": "names", "pageSize": 3, "requestSyncToken": True}
    first = api.get(CONNECTIONS, params=params).json()
    emulator.edit_person(names[4], {"names": [{"givenName": "Edited"}]})  # not read yet
    emulator.edit_person(names[0], {"names": [{"givenName": "Again"}]})  # already read
    second = api.get(CONNECTIONS, params={**params, "pageToken": first["nextPageToken"]}).json()
    seen = [p["resourceName"] for p in first["connections"] + second["connections"]]
    assert len(seen) == len(set(seen))  # nothing twice, nothing unmodified skipped
    assert set(names) - set(seen) <= {names[4], names[0]}
    delta = api.get(
        CONNECTIONS, params={"personFields": "names", "syncToken": second["nextSyncToken"]}
    ).json()
    assert {p["resourceName"] for p in delta["connections"]} == {names[0], names[4]}


# ---- sync tokens --------------------------------------------------------------------------------


def test_sync_token_delta_reports_changes_and_deletions(
    emulator: PeopleEmulator, api: httpx.Client
) -> None:
    kept, edited, gone = (emulator.add_person(person(n)) for n in ("Kept", "Edited", "Gone"))
    people, last = list_all(api, requestSyncToken=True)
    assert len(people) == 3
    token = last["nextSyncToken"]

    emulator.edit_person(edited, {"names": [{"givenName": "Edited", "familyName": "Now"}]})
    emulator.delete_person(gone)
    added = emulator.add_person(person("Added"))
    delta, last = list_all(api, syncToken=token)
    by_name = {p["resourceName"]: p for p in delta}
    assert set(by_name) == {edited, gone, added}  # not the one that did not change
    assert by_name[gone]["metadata"]["deleted"] is True
    assert "names" not in by_name[gone]
    assert by_name[edited]["names"][0]["displayName"] == "Edited Now"
    assert "deleted" not in by_name[edited]["metadata"]
    assert emulator.person(gone) is None and emulator.person(kept) is not None

    quiet = api.get(
        CONNECTIONS, params={"personFields": "names", "syncToken": last["nextSyncToken"]}
    )
    assert quiet.status_code == 200 and set(quiet.json()) == {"nextSyncToken"}


def test_expired_sync_token_is_refused_the_way_google_does(
    emulator: PeopleEmulator, api: httpx.Client
) -> None:
    emulator.add_person(person("A"))
    _, last = list_all(api, requestSyncToken=True)
    emulator.expire_sync_tokens()
    response = api.get(
        CONNECTIONS, params={"personFields": "names", "syncToken": last["nextSyncToken"]}
    )
    error = error_of(response)
    assert response.status_code == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("Sync token is expired.")
    assert error["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "EXPIRED_SYNC_TOKEN",
            "domain": "people.googleapis.com",
        }
    ]
    # A full sync without the token works and hands out a fresh one.
    people, fresh = list_all(api, requestSyncToken=True)
    assert len(people) == 1
    again = api.get(
        CONNECTIONS, params={"personFields": "names", "syncToken": fresh["nextSyncToken"]}
    )
    assert again.status_code == 200
    garbage = api.get(CONNECTIONS, params={"personFields": "names", "syncToken": "nonsense"})
    assert garbage.status_code == 400 and "EXPIRED_SYNC_TOKEN" not in reasons(error_of(garbage))


def test_expired_sync_token_as_the_older_410() -> None:
    with PeopleEmulator(expired_sync_token_http=410) as emu, client_for(emu) as api:
        _, last = list_all(api, requestSyncToken=True)
        emu.expire_sync_tokens()
        response = api.get(
            CONNECTIONS, params={"personFields": "names", "syncToken": last["nextSyncToken"]}
        )
        assert response.status_code == 410
        assert reasons(error_of(response)) == ["EXPIRED_SYNC_TOKEN"]


# ---- batch create -------------------------------------------------------------------------------


def test_batch_create_returns_people_with_the_read_mask(
    emulator: PeopleEmulator, api: httpx.Client
) -> None:
    contacts = [
        {"contactPerson": person("Ann", "ann@example.com")},
        {
            "contactPerson": person(
                "Bob",
                "bob@example.com",
                userDefined=[{"key": "shoe", "value": "42"}],
                birthdays=[{"date": {"year": 1980, "month": 2, "day": 29}}],
                addresses=[{"streetAddress": "1 Main St", "city": "Springfield", "type": "home"}],
            )
        },
    ]
    response = api.post(BATCH_CREATE, json={"contacts": contacts, "readMask": "names,userDefined"})
    assert response.status_code == 200, response.text
    created = response.json()["createdPeople"]
    assert [c["httpStatusCode"] for c in created] == [200, 200]
    bob = created[1]["person"]
    assert set(bob) == {"resourceName", "etag", "names", "userDefined"}
    assert bob["resourceName"].startswith("people/c") and created[1]["requestedResourceName"]
    assert bob["userDefined"][0]["key"] == "shoe"
    stored = emulator.person(bob["resourceName"])
    assert stored is not None
    assert stored["birthdays"][0]["date"] == {"year": 1980, "month": 2, "day": 29}
    assert stored["addresses"][0]["formattedValue"] == "1 Main St\nSpringfield"
    groups = [
        m["contactGroupMembership"]["contactGroupResourceName"] for m in stored["memberships"]
    ]
    assert groups == [MY_CONTACTS]
    assert emulator.members(MY_CONTACTS) == [c["person"]["resourceName"] for c in created]


def test_batch_create_limits_and_refusals(emulator: PeopleEmulator, api: httpx.Client) -> None:
    many = [{"contactPerson": person(f"N{i}")} for i in range(201)]
    too_many = api.post(BATCH_CREATE, json={"contacts": many, "readMask": "names"})
    assert too_many.status_code == 400 and error_of(too_many)["status"] == "INVALID_ARGUMENT"
    full = api.post(BATCH_CREATE, json={"contacts": many[:200], "readMask": "names"})
    assert full.status_code == 200 and len(full.json()["createdPeople"]) == 200

    unknown = api.post(BATCH_CREATE, json={"contacts": [{"contactPerson": {"name": "x"}}]})
    assert unknown.status_code == 400
    assert 'Unknown name "name"' in error_of(unknown)["message"]
    typo = api.post(
        BATCH_CREATE, json={"contacts": [{"contactPerson": {"emailAddresses": [{"email": "a"}]}}]}
    )
    assert typo.status_code == 400 and "email_addresses[0]" in error_of(typo)["message"]

    two_names = {"names": [{"givenName": "A"}, {"givenName": "B"}]}
    contacts = [{"contactPerson": person("Fine")}, {"contactPerson": two_names}]
    response = api.post(BATCH_CREATE, json={"contacts": contacts, "readMask": "names"})
    error = error_of(response)
    assert response.status_code == 400
    assert error["details"][0]["@type"].endswith("google.people.v1.BatchCreateContactsErrorDetails")
    assert set(error["details"][0]["contactErrors"]) == {"1"}  # keyed by index
    assert len(emulator.persons()) == 200  # all or nothing: "Fine" was not created either

    # An empty readMask skips the post-mutate read: created, but nothing comes back.
    silent = api.post(BATCH_CREATE, json={"contacts": [{"contactPerson": person("Quiet")}]})
    assert silent.status_code == 200 and silent.json() == {}
    assert len(emulator.persons()) == 201


# ---- updates and etags --------------------------------------------------------------------------


def test_batch_update_with_etags(emulator: PeopleEmulator, api: httpx.Client) -> None:
    a = emulator.add_person(person("A", "a@example.com"))
    b = emulator.add_person(person("B", "b@example.com"))
    read = {p["resourceName"]: p for p in list_all(api)[0]}
    body = {
        "contacts": {
            a: {"etag": read[a]["etag"], "names": [{"givenName": "A2"}]},
            b: {"etag": read[b]["etag"], "names": [{"givenName": "B2"}]},
        },
        "updateMask": "names,emailAddresses",
        "readMask": "names,emailAddresses",
    }
    response = api.post(BATCH_UPDATE, json=body)
    assert response.status_code == 200, response.text
    result = response.json()["updateResult"]
    assert result[a]["person"]["names"][0]["givenName"] == "A2"
    assert "emailAddresses" not in result[a]["person"]  # in the mask, left empty: cleared
    assert result[a]["person"]["etag"] != read[a]["etag"]  # every write, a new etag

    # The same (now stale) etags again: refused, and nothing written.
    body["contacts"][a]["names"] = [{"givenName": "A3"}]
    stale = api.post(BATCH_UPDATE, json=body)
    error = error_of(stale)
    assert stale.status_code == 400 and error["status"] == "FAILED_PRECONDITION"
    assert error["message"].startswith("Request person.etag is different")
    details = error["details"][0]
    assert details["@type"].endswith("google.people.v1.BatchUpdateContactsErrorDetails")
    assert set(details["contactErrors"]) == {a, b}
    assert details["contactErrors"][a]["code"] == 9  # google.rpc.Code.FAILED_PRECONDITION
    assert emulator.person(a)["names"][0]["givenName"] == "A2"  # type: ignore[index]

    # The source etag (metadata.sources[].etag) is as good as the person's etag.
    fresh = emulator.person(a)
    assert fresh is not None
    by_source = {"metadata": fresh["metadata"], "names": [{"givenName": "A4"}]}
    ok = api.post(BATCH_UPDATE, json={"contacts": {a: by_source}, "updateMask": "names"})
    assert ok.status_code == 200 and ok.json() == {}  # no readMask: no post-mutate read
    no_etag = api.post(BATCH_UPDATE, json={"contacts": {a: {"names": []}}, "updateMask": "names"})
    assert no_etag.status_code == 400 and "must set person.etag" in error_of(no_etag)["message"]


def test_batch_update_limits_and_masks(emulator: PeopleEmulator, api: httpx.Client) -> None:
    a = emulator.add_person(person("A"))
    etag = emulator.person(a)["etag"]  # type: ignore[index]
    no_mask = api.post(BATCH_UPDATE, json={"contacts": {a: {"etag": etag}}})
    assert no_mask.status_code == 400 and "updateMask" in error_of(no_mask)["message"]
    bad_mask = api.post(
        BATCH_UPDATE, json={"contacts": {a: {"etag": etag}}, "updateMask": "photos"}
    )
    assert bad_mask.status_code == 400
    many = {f"people/c{i}": {"etag": "x"} for i in range(1, 202)}
    too_many = api.post(BATCH_UPDATE, json={"contacts": many, "updateMask": "names"})
    assert too_many.status_code == 400 and error_of(too_many)["status"] == "INVALID_ARGUMENT"
    missing = api.post(
        BATCH_UPDATE, json={"contacts": {"people/c999": {"etag": "x"}}, "updateMask": "names"}
    )
    assert missing.status_code == 404
    assert error_of(missing)["details"][0]["contactErrors"]["people/c999"]["code"] == 5


def test_another_client_edits_between_our_read_and_our_write(
    emulator: PeopleEmulator, api: httpx.Client
) -> None:
    a = emulator.add_person(person("Mine"))
    etag = list_all(api)[0][0]["etag"]
    calls: list[tuple[str, str]] = []

    def meddle(method: str, path: str) -> None:
        calls.append((method, path))
        emulator.edit_person(a, {"nicknames": [{"value": "theirs"}]})

    emulator.before_write(meddle)
    body = {
        "contacts": {a: {"etag": etag, "names": [{"givenName": "Ours"}]}},
        "updateMask": "names",
    }
    response = api.post(BATCH_UPDATE, json=body)
    assert response.status_code == 400 and error_of(response)["status"] == "FAILED_PRECONDITION"
    assert calls == [("POST", "/v1/people:batchUpdateContacts")]
    stored = emulator.person(a)
    assert stored is not None and stored["nicknames"][0]["value"] == "theirs"
    assert stored["names"][0]["givenName"] == "Mine"  # never overwritten blindly
    # Read again, merge, write: works (the callback fired once only).
    body["contacts"][a]["etag"] = stored["etag"]
    assert api.post(BATCH_UPDATE, json=body).status_code == 200


def test_update_get_and_delete_one_contact(emulator: PeopleEmulator, api: httpx.Client) -> None:
    a = emulator.add_person(person("Solo", "solo@example.com"))
    got = api.get(f"v1/{a}", params={"personFields": "names,emailAddresses"}).json()
    path = f"v1/{a}:updateContact"
    no_mask = api.patch(path, json={"etag": got["etag"]})
    assert no_mask.status_code == 400
    assert "updatePersonFields mask is required" in error_of(no_mask)["message"]
    body = {"etag": got["etag"], "urls": [{"value": "https://example.com", "type": "blog"}]}
    updated = api.patch(path, params={"updatePersonFields": "urls"}, json=body)
    assert updated.status_code == 200
    assert updated.json()["urls"][0]["formattedType"] == "Blog"
    assert updated.json()["emailAddresses"][0]["value"] == "solo@example.com"  # not in the mask
    stale = api.patch(path, params={"updatePersonFields": "urls"}, json=body)
    assert stale.status_code == 400 and error_of(stale)["status"] == "FAILED_PRECONDITION"
    two = {"etag": updated.json()["etag"], "biographies": [{"value": "a"}, {"value": "b"}]}
    singleton = api.patch(path, params={"updatePersonFields": "biographies"}, json=two)
    assert singleton.status_code == 400

    batch = api.get(
        "v1/people:batchGet",
        params={"resourceNames": [a, "people/c999"], "personFields": "names"},
    ).json()["responses"]
    assert batch[0]["person"]["resourceName"] == a and batch[0]["status"] == {}
    assert batch[1]["status"]["code"] == 5 and batch[1]["requestedResourceName"] == "people/c999"
    too_many = api.get(
        "v1/people:batchGet", params={"resourceNames": [a] * 201, "personFields": "names"}
    )
    assert too_many.status_code == 400
    assert api.get("v1/people:batchGet", params={"resourceNames": [a]}).status_code == 400

    me = api.get("v1/people/me", params={"personFields": "emailAddresses"}).json()
    assert me["emailAddresses"][0]["value"] == emulator.account_email

    assert api.delete(f"v1/{a}:deleteContact").json() == {}
    assert api.get(f"v1/{a}", params={"personFields": "names"}).status_code == 404
    assert api.delete(f"v1/{a}:deleteContact").status_code == 404


# ---- contact groups -----------------------------------------------------------------------------


def test_contact_groups_and_members(emulator: PeopleEmulator, api: httpx.Client) -> None:
    trash = emulator.add_group("PieSync Trash")
    listed = api.get("v1/contactGroups").json()
    by_name = {g["resourceName"]: g for g in listed["contactGroups"]}
    assert by_name[MY_CONTACTS]["groupType"] == "SYSTEM_CONTACT_GROUP"
    assert by_name[trash]["groupType"] == "USER_CONTACT_GROUP"
    assert by_name[trash]["name"] == "PieSync Trash" and "nextSyncToken" in listed

    created = api.post("v1/contactGroups", json={"contactGroup": {"name": "Friends"}})
    assert created.status_code == 200
    friends = created.json()["resourceName"]
    assert friends.startswith("contactGroups/") and created.json()["name"] == "Friends"
    duplicate = api.post("v1/contactGroups", json={"contactGroup": {"name": "Friends"}})
    assert duplicate.status_code == 409 and error_of(duplicate)["status"] == "ALREADY_EXISTS"

    a, b = emulator.add_person(person("A")), emulator.add_person(person("B"))
    etag_before = emulator.person(a)["etag"]  # type: ignore[index]
    gid = friends.removeprefix("contactGroups/")
    modify = f"v1/contactGroups/{gid}/members:modify"
    added = api.post(modify, json={"resourceNamesToAdd": [a, b, "people/c999"]})
    assert added.json() == {"notFoundResourceNames": ["people/c999"]}
    assert emulator.members(friends) == [a, b]
    assert emulator.person(a)["etag"] != etag_before  # type: ignore[index]
    memberships = emulator.person(a)["memberships"]  # type: ignore[index]
    assert {m["contactGroupMembership"]["contactGroupResourceName"] for m in memberships} == {
        MY_CONTACTS,
        friends,
    }
    got = api.get(f"v1/contactGroups/{gid}", params={"maxMembers": 10}).json()
    assert got["memberCount"] == 2 and got["memberResourceNames"] == [a, b]
    assert "memberResourceNames" not in api.get(f"v1/contactGroups/{gid}").json()

    removed = api.post(modify, json={"resourceNamesToRemove": [a]})
    assert removed.status_code == 200 and emulator.members(friends) == [b]
    # Removing a contact from its last group is refused, contact by contact.
    last = api.post(
        "v1/contactGroups/myContacts/members:modify", json={"resourceNamesToRemove": [a]}
    )
    assert last.json() == {"canNotRemoveLastContactGroupResourceNames": [a]}
    assert a in emulator.members(MY_CONTACTS)
    too_many = api.post(modify, json={"resourceNamesToAdd": [a] * 1001})
    assert too_many.status_code == 400
    assert api.post("v1/contactGroups/nope/members:modify", json={}).status_code == 404

    # Groups have sync tokens too; a membership change is a change of the group.
    token = listed["nextSyncToken"]
    delta = api.get("v1/contactGroups", params={"syncToken": token}).json()
    assert {g["resourceName"] for g in delta["contactGroups"]} >= {friends, MY_CONTACTS}
    assert trash not in {g["resourceName"] for g in delta["contactGroups"]}
    assert [g["name"] for g in emulator.groups()][:2] == ["myContacts", "starred"]


def test_memberships_through_an_update(emulator: PeopleEmulator, api: httpx.Client) -> None:
    group = emulator.add_group("Work")
    a = emulator.add_person(person("A"))
    etag = emulator.person(a)["etag"]  # type: ignore[index]
    membership = {"contactGroupMembership": {"contactGroupResourceName": group}}
    body = {
        "contacts": {a: {"etag": etag, "memberships": [membership]}},
        "updateMask": "memberships",
    }
    assert api.post(BATCH_UPDATE, json=body).status_code == 200
    assert emulator.members(group) == [a] and a not in emulator.members(MY_CONTACTS)
    etag = emulator.person(a)["etag"]  # type: ignore[index]
    empty = {"contacts": {a: {"etag": etag, "memberships": []}}, "updateMask": "memberships"}
    assert api.post(BATCH_UPDATE, json=empty).status_code == 400


# ---- fault switches -----------------------------------------------------------------------------


def test_quota_switch(emulator: PeopleEmulator, api: httpx.Client) -> None:
    emulator.quota(2, retry_after=3)
    params = {"personFields": "names"}
    for _ in range(2):
        response = api.get(CONNECTIONS, params=params)
        error = error_of(response)
        assert response.status_code == 429 and error["status"] == "RESOURCE_EXHAUSTED"
        assert reasons(error) == ["RATE_LIMIT_EXCEEDED"]
        assert response.headers["retry-after"] == "3"
    assert api.get(CONNECTIONS, params=params).status_code == 200
    assert emulator.count("GET", "/v1/people/me/connections") == 3


def test_fail_switch_matches_method_path_and_after(
    emulator: PeopleEmulator, api: httpx.Client
) -> None:
    emulator.fail(503, times=1, method="POST", path_contains="batchCreate", after=1)
    body = {"contacts": [{"contactPerson": person("X")}], "readMask": "names"}
    assert api.get(CONNECTIONS, params={"personFields": "names"}).status_code == 200
    assert api.post(BATCH_CREATE, json=body).status_code == 200  # the one let through
    failed = api.post(BATCH_CREATE, json=body)
    assert failed.status_code == 503 and error_of(failed)["status"] == "UNAVAILABLE"
    assert api.post(BATCH_CREATE, json=body).status_code == 200
    assert len(emulator.persons()) == 2  # the failed call wrote nothing

    emulator.fail(502, times=None)
    assert api.get(CONNECTIONS, params={"personFields": "names"}).status_code == 502
    emulator.clear_faults()
    assert api.get(CONNECTIONS, params={"personFields": "names"}).status_code == 200


def test_drop_switch_before_and_after(emulator: PeopleEmulator, api: httpx.Client) -> None:
    body = {"contacts": [{"contactPerson": person("X")}], "readMask": "names"}
    emulator.drop(1, method="POST")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(BATCH_CREATE, json=body)
    assert emulator.persons() == []  # dropped before: nothing happened
    emulator.drop(1, method="POST", when="after")
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(BATCH_CREATE, json=body)
    assert len(emulator.persons()) == 1  # dropped after: written, the answer lost
    assert api.post(BATCH_CREATE, json=body).status_code == 200  # a new connection is fine
    assert emulator.count("POST", "batchCreateContacts") == 3
    assert emulator.requests[-1] == ("POST", "/v1/people:batchCreateContacts")


def test_concurrent_clients_are_safe(emulator: PeopleEmulator) -> None:
    created: list[str] = []
    lock = threading.Lock()

    def create(n: int) -> None:
        with client_for(emulator) as api:
            for i in range(5):
                contacts = [{"contactPerson": person(f"T{n}-{i}-{j}")} for j in range(4)]
                response = api.post(BATCH_CREATE, json={"contacts": contacts, "readMask": "names"})
                assert response.status_code == 200
                with lock:
                    created.extend(
                        c["person"]["resourceName"] for c in response.json()["createdPeople"]
                    )

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created) == len(set(created)) == 80 == len(emulator.persons())
    assert emulator.max_concurrent_writes >= 1
