"""The HubSpot emulator against what HubSpot's developer pages (and HubSpot's observed answers)
say, through a real https client that trusts the emulator's test authority."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.hubspot import (
    ALL_SCOPES,
    CONTACT_WRITE,
    LISTS_READ,
    SEARCH_CAP,
    HubSpotEmulator,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z; the clock stands still unless a test advances it
CONTACTS = "/crm/v3/objects/contacts"
SEARCH = CONTACTS + "/search"


@pytest.fixture
def emulator() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(clock=lambda: T0) as emu:
        yield emu
    assert not emu.internal_errors, emu.internal_errors


def client_for(emu: HubSpotEmulator, token: str | None = None, **options: Any) -> httpx.Client:
    context = ssl.create_default_context()
    emu.ca.configure_trust(context)
    token = emu.token if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=emu.url, verify=context, headers=headers, timeout=5, **options)


@pytest.fixture
def api(emulator: HubSpotEmulator) -> Iterator[httpx.Client]:
    with client_for(emulator) as client:
        yield client


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error" and body["message"] and body["correlationId"]
    return body


def issues_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The per-property issues of a 400 VALIDATION_ERROR, parsed out of its message."""
    body = error_of(response, 400)
    assert body["category"] == "VALIDATION_ERROR"
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    issues = json.loads(body["message"][len(prefix) :])
    assert [e["code"] for e in body["errors"]] == [i["error"] for i in issues]
    return issues


def create(api: httpx.Client, **properties: Any) -> dict[str, Any]:
    response = api.post(CONTACTS, json={"properties": properties})
    assert response.status_code == 201, response.text
    return response.json()


# ---- TLS, auth, scopes --------------------------------------------------------------------------


def test_https_with_the_test_authority_and_keep_alive(
    emulator: HubSpotEmulator, tmp_path: Path
) -> None:
    pem = emulator.ca_file(tmp_path / "ca.pem")
    assert pem.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert emulator.url.startswith("https://127.0.0.1:")
    assert emulator.token.startswith("pat-na1-")
    context = ssl.create_default_context(cafile=str(pem))
    headers = {"Authorization": f"Bearer {emulator.token}"}
    with httpx.Client(base_url=emulator.url, verify=context, headers=headers) as api:
        for _ in range(5):
            assert api.get(CONTACTS).status_code == 200
    assert emulator.connections == 1
    with pytest.raises(httpx.ConnectError):  # a client that does not trust the authority
        httpx.get(emulator.url + CONTACTS, headers=headers)


def test_wrong_missing_and_revoked_tokens_get_401(emulator: HubSpotEmulator) -> None:
    for token in ("", "pat-na1-wrong"):
        with client_for(emulator, token=token) as client:
            body = error_of(client.get(CONTACTS), 401)
            assert body["category"] == "INVALID_AUTHENTICATION"
    with client_for(emulator) as good:
        assert good.get(CONTACTS).status_code == 200
        emulator.revoke_token()
        assert error_of(good.get(CONTACTS), 401)["category"] == "INVALID_AUTHENTICATION"


def test_missing_scopes_get_403(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    emulator.scopes(LISTS_READ)
    body = error_of(api.get(CONTACTS), 403)
    assert body["category"] == "MISSING_SCOPES"
    assert "crm.objects.contacts.read" in body["errors"][0]["context"]["requiredGranularScopes"]
    assert api.post("/crm/v3/lists/search", json={}).status_code == 200
    emulator.scopes(*ALL_SCOPES)
    assert api.get(CONTACTS).status_code == 200


# ---- properties ---------------------------------------------------------------------------------


def test_properties_with_options_and_read_only_flags(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    emulator.add_property(
        "piesync_tier", "Tier", "enumeration", "select", [("gold", "Gold"), ("silver", "Silver")]
    )
    response = api.get("/crm/v3/properties/contacts")
    assert response.status_code == 200
    props = {p["name"]: p for p in response.json()["results"]}
    for name in ("firstname", "lastname", "email", "phone", "mobilephone", "company", "jobtitle"):
        assert props[name]["type"] == "string" and props[name]["hubspotDefined"] is True
    assert props["phone"]["fieldType"] == "phonenumber"
    stages = props["lifecyclestage"]
    assert stages["type"] == "enumeration"
    assert [o["value"] for o in stages["options"]][:3] == [
        "subscriber",
        "lead",
        "marketingqualifiedlead",
    ]
    assert set(stages["options"][0]) >= {"label", "value", "displayOrder", "hidden"}
    assert "NEW" in [o["value"] for o in props["hs_lead_status"]["options"]]
    for name in ("lastmodifieddate", "hs_object_id", "hs_email_optout", "createdate"):
        assert props[name]["modificationMetadata"]["readOnlyValue"] is True, name
    assert props["hs_object_id"]["calculated"] is True
    assert props["hs_email_optout"]["type"] == "bool"
    assert props["lastmodifieddate"]["type"] == "datetime"
    assert props["firstname"]["modificationMetadata"]["readOnlyValue"] is False
    custom = props["piesync_tier"]
    assert custom["hubspotDefined"] is False and custom["fieldType"] == "select"
    assert [o["label"] for o in custom["options"]] == ["Gold", "Silver"]
    assert api.get("/crm/v3/properties/contacts/email").json()["label"] == "Email"
    assert error_of(api.get("/crm/v3/properties/contacts/nope"), 404)
    created = api.post(
        "/crm/v3/properties/contacts",
        json={
            "name": "piesync_id",
            "label": "PieSync id",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
        },
    )
    assert created.status_code == 201 and created.json()["name"] == "piesync_id"
    again = api.post("/crm/v3/properties/contacts", json=created.json())
    assert error_of(again, 409)


# ---- contacts -----------------------------------------------------------------------------------


def test_create_read_update_archive(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    made = create(api, email="Ada@Example.com", firstname="Ada", lifecyclestage="lead")
    cid = made["id"]
    assert cid.isdigit() and made["archived"] is False
    assert made["properties"]["email"] == "ada@example.com"
    assert made["properties"]["hs_object_id"] == cid
    assert made["createdAt"] == made["updatedAt"] == "2026-01-01T00:00:00Z"
    got = api.get(f"{CONTACTS}/{cid}", params={"properties": "firstname,company"}).json()
    assert got["properties"]["firstname"] == "Ada" and got["properties"]["company"] is None
    assert got["properties"]["lastmodifieddate"] == "2026-01-01T00:00:00Z"
    by_email = api.get(f"{CONTACTS}/ada@example.com", params={"idProperty": "email"})
    assert by_email.json()["id"] == cid

    emulator.advance(1.25)
    patched = api.patch(f"{CONTACTS}/{cid}", json={"properties": {"company": "Analytical"}})
    assert patched.status_code == 200
    assert patched.json()["properties"]["company"] == "Analytical"
    assert patched.json()["updatedAt"] == "2026-01-01T00:00:01.250Z"
    assert emulator.contact(cid)["properties"]["lastmodifieddate"] == "2026-01-01T00:00:01.250Z"
    cleared = api.patch(f"{CONTACTS}/{cid}", json={"properties": {"company": ""}})
    assert "company" not in emulator.contact(cid)["properties"] and cleared.status_code == 200

    assert api.delete(f"{CONTACTS}/{cid}").status_code == 204
    assert error_of(api.get(f"{CONTACTS}/{cid}"), 404)["category"] == "OBJECT_NOT_FOUND"
    assert api.delete(f"{CONTACTS}/{cid}").status_code == 204  # deleting twice is fine
    assert api.delete(f"{CONTACTS}/999999").status_code == 204
    archived = api.get(CONTACTS, params={"archived": "true"}).json()["results"]
    assert [c["id"] for c in archived] == [cid] and archived[0]["archived"] is True
    assert error_of(api.patch(f"{CONTACTS}/{cid}", json={"properties": {}}), 404)
    assert emulator.contacts() == [] and len(emulator.contacts(archived=True)) == 1


def test_email_is_unique(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    first = create(api, email="grace@example.com")["id"]
    other = create(api, email="other@example.com")["id"]
    body = error_of(api.post(CONTACTS, json={"properties": {"email": "GRACE@example.com"}}), 409)
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {first}"
    clash = api.patch(f"{CONTACTS}/{other}", json={"properties": {"email": "grace@example.com"}})
    assert error_of(clash, 409)["message"].endswith(first)
    assert api.patch(f"{CONTACTS}/{first}", json={"properties": {"email": "grace@example.com"}})
    assert len(emulator.contacts()) == 2
    emulator.archive_contact(first)  # an archived contact's address may be used again
    create(api, email="grace@example.com")


def test_property_values_are_checked(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    emulator.add_property("score", "Score", "number", "number")
    emulator.add_property("renewal", "Renewal", "date", "date")
    response = api.post(
        CONTACTS,
        json={
            "properties": {
                "email": "not-an-email",
                "favourite_colour": "red",
                "lastmodifieddate": "2020-01-01T00:00:00Z",
                "hs_object_id": "5",
                "lifecyclestage": "champion",
                "score": "12abc",
                "renewal": "1767225600001",
            }
        },
    )
    issues = {i["name"]: i for i in issues_of(response)}
    assert issues["email"]["error"] == "INVALID_EMAIL"
    assert issues["favourite_colour"]["error"] == "PROPERTY_DOESNT_EXIST"
    assert issues["favourite_colour"]["message"] == 'Property "favourite_colour" does not exist'
    assert issues["lastmodifieddate"]["error"] == "READ_ONLY_VALUE"
    assert "calculated" in issues["hs_object_id"]["message"]
    assert issues["lifecyclestage"]["error"] == "INVALID_OPTION"
    assert "champion was not one of the allowed options" in issues["lifecyclestage"]["message"]
    assert issues["score"]["isValid"] is False and issues["renewal"]["name"] == "renewal"
    assert emulator.contacts() == []
    ok = create(api, score="12.5", renewal="2026-03-01", lifecyclestage="customer")
    assert ok["properties"]["renewal"] == "2026-03-01"


def test_list_pages_with_after(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    ids = [emulator.add_contact({"firstname": f"P{n:02d}"}) for n in range(25)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 10, "properties": "firstname"}
    pages = 0
    while True:
        page = api.get(CONTACTS, params=params).json()
        pages += 1
        seen += [c["id"] for c in page["results"]]
        if "paging" not in page:
            break
        assert page["paging"]["next"]["link"].startswith(emulator.url)
        params["after"] = page["paging"]["next"]["after"]
    assert seen == ids and pages == 3
    assert error_of(api.get(CONTACTS, params={"limit": 101}), 400)


# ---- batches ------------------------------------------------------------------------------------


def test_batch_create_takes_100_and_refuses_101(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    inputs = [{"properties": {"email": f"p{n}@example.com"}} for n in range(101)]
    refused = api.post(CONTACTS + "/batch/create", json={"inputs": inputs})
    assert error_of(refused, 400)["category"] == "VALIDATION_ERROR"
    assert emulator.contacts() == []
    done = api.post(CONTACTS + "/batch/create", json={"inputs": inputs[:100]})
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["status"] == "COMPLETE" and len(body["results"]) == 100
    assert "startedAt" in body and "completedAt" in body and "errors" not in body
    assert len(emulator.contacts()) == 100


def test_batch_with_one_invalid_input(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    inputs: list[dict[str, Any]] = [
        {"properties": {"email": "a@example.com"}},
        {"properties": {"email": "b@example.com", "lifecyclestage": "nope"}},
        {"properties": {"email": "c@example.com"}},
    ]
    whole = api.post(CONTACTS + "/batch/create", json={"inputs": inputs})
    assert issues_of(whole)[0]["error"] == "INVALID_OPTION"
    assert emulator.contacts() == []  # all or nothing by default

    for n, item in enumerate(inputs):
        item["objectWriteTraceId"] = f"trace-{n}"
    multi = api.post(CONTACTS + "/batch/create", json={"inputs": inputs})
    assert multi.status_code == 207, multi.text
    body = multi.json()
    assert body["numErrors"] == 1 and len(body["results"]) == 2
    assert body["errors"][0]["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["context"] == {"objectWriteTraceId": ["trace-1"]}
    assert sorted(r["objectWriteTraceId"] for r in body["results"]) == ["trace-0", "trace-2"]
    assert len(emulator.contacts()) == 2
    first_id = next(r["id"] for r in body["results"] if r["objectWriteTraceId"] == "trace-0")

    dup = api.post(
        CONTACTS + "/batch/create", json={"inputs": [{"properties": inputs[0]["properties"]}]}
    )
    assert error_of(dup, 409)["message"] == f"Contact already exists. Existing ID: {first_id}"
    traced = api.post(CONTACTS + "/batch/create", json={"inputs": [inputs[0]]})
    assert traced.status_code == 207 and traced.json()["errors"][0]["category"] == "CONFLICT"


def test_batch_update_read_and_archive(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    a = emulator.add_contact({"firstname": "A"})
    b = emulator.add_contact({"firstname": "B"})
    url = CONTACTS + "/batch/update"
    emulator.advance(2)
    done = api.post(url, json={"inputs": [{"id": a, "properties": {"lastname": "Lovelace"}}]})
    assert done.status_code == 200 and done.json()["results"][0]["properties"]["lastname"]
    assert emulator.contact(a)["updatedAt"] == "2026-01-01T00:00:02Z"
    missing = api.post(
        url,
        json={
            "inputs": [
                {"id": b, "properties": {"lastname": "Hopper"}},
                {"id": "424242", "properties": {"lastname": "X"}},
            ]
        },
    )
    assert error_of(missing, 404)["context"] == {"ids": ["424242"]}
    assert "lastname" not in emulator.contact(b)["properties"]  # nothing written
    dup = api.post(url, json={"inputs": [{"id": a, "properties": {}}, {"id": a, "properties": {}}]})
    assert "Duplicate IDs" in error_of(dup, 400)["message"]
    bad = api.post(url, json={"inputs": [{"id": a, "properties": {"lifecyclestage": "x"}}]})
    assert issues_of(bad)[0]["name"] == "lifecyclestage"

    read = api.post(
        CONTACTS + "/batch/read",
        json={"inputs": [{"id": a}, {"id": "9"}], "properties": ["lastname"]},
    )
    assert read.status_code == 207
    body = read.json()
    assert [r["id"] for r in body["results"]] == [a]
    assert body["results"][0]["properties"]["lastname"] == "Lovelace"
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND" and body["numErrors"] == 1
    assert api.post(CONTACTS + "/batch/read", json={"inputs": [{"id": b}]}).status_code == 200

    archived = api.post(CONTACTS + "/batch/archive", json={"inputs": [{"id": a}, {"id": "7"}]})
    assert archived.status_code == 204
    assert [c["id"] for c in emulator.contacts()] == [b]


# ---- search -------------------------------------------------------------------------------------


def test_search_on_lastmodifieddate_with_sort_and_paging(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    early = emulator.add_contact({"firstname": "Early", "email": "early@example.com"})
    emulator.advance(60)
    since = str(emulator.now_ms())
    late = []
    for n in range(5):
        emulator.advance(1)
        late.append(emulator.add_contact({"firstname": f"Late{n}"}))
    emulator.advance(1)
    emulator.edit_contact(late[0], {"lastname": "Moved"})  # now the most recent

    def query(after: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": since}
                    ]
                }
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["firstname"],
            "limit": 2,
        }
        if after is not None:
            body["after"] = after
        return body

    found: list[str] = []
    after: str | None = None
    while True:
        response = api.post(SEARCH, json=query(after))
        assert response.status_code == 200, response.text
        assert "X-HubSpot-RateLimit-Max" not in response.headers  # search answers lack them
        page = response.json()
        assert page["total"] == 5
        found += [r["id"] for r in page["results"]]
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert found == [*late[1:], late[0]] and early not in found

    by_email = api.post(
        SEARCH,
        json={
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "email", "operator": "EQ", "value": "EARLY@example.com"}
                    ]
                }
            ]
        },
    ).json()
    assert [r["id"] for r in by_email["results"]] == [early]
    assert set(by_email["results"][0]["properties"]) >= {"email", "firstname", "lastname"}
    no_email = api.post(
        SEARCH,
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "NOT_HAS_PROPERTY"}]}
            ]
        },
    ).json()
    assert no_email["total"] == 5

    emulator.search_lag(30)
    emulator.edit_contact(early, {"lastname": "Fresh"})
    lagging = api.post(SEARCH, json={"limit": 200}).json()
    assert early not in [r["id"] for r in lagging["results"]]
    emulator.advance(31)
    assert api.post(SEARCH, json={"limit": 200}).json()["total"] == 6

    assert error_of(api.post(SEARCH, json={"after": str(SEARCH_CAP)}), 400)
    assert api.post(SEARCH, json={"after": str(SEARCH_CAP - 1)}).status_code == 200
    assert error_of(api.post(SEARCH, json={"limit": 201}), 400)
    flt = {"propertyName": "firstname", "operator": "HAS_PROPERTY"}
    too_many = {"filterGroups": [{"filters": [flt]}] * 6}
    assert error_of(api.post(SEARCH, json=too_many), 400)
    assert error_of(api.post(SEARCH, json={"filterGroups": [{"filters": [flt] * 7}]}), 400)


def test_equal_sort_values_come_in_no_id_order_unless_sorted_by_record_id(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    ids = [emulator.add_contact({"email": f"p{n}@example.org"}) for n in range(8)]
    stamp = str(emulator.now_ms())  # one lastmodifieddate for all eight (the clock stands still)

    def search(sort: str, *filters: dict[str, Any]) -> list[str]:
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "EQ", "value": stamp},
                        *filters,
                    ]
                }
            ],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "limit": 200,
        }
        return [r["id"] for r in api.post(SEARCH, json=body).json()["results"]]

    ties = search("lastmodifieddate")
    assert sorted(ties) == sorted(ids) and ties != ids  # HubSpot documents no order for ties
    assert search("lastmodifieddate") == ties  # but it is the same each time
    assert search("hs_object_id") == ids
    after = {"propertyName": "hs_object_id", "operator": "GT", "value": ids[3]}
    assert search("hs_object_id", after) == ids[4:]


def test_one_contact_can_lag_in_search_longer_than_the_rest(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    ann = emulator.add_contact({"email": "ann@example.org"})
    bob = emulator.add_contact({"email": "bob@example.org"})
    emulator.search_lag(5)
    emulator.search_lag(90, contact_id=ann)
    emulator.advance(10)
    emulator.edit_contact(ann, {"jobtitle": "CEO"})
    emulator.edit_contact(bob, {"jobtitle": "CTO"})

    def found() -> list[str]:
        return [r["id"] for r in api.post(SEARCH, json={}).json()["results"]]

    assert found() == []
    emulator.advance(6)
    assert found() == [bob]
    emulator.advance(85)
    assert found() == [ann, bob]


def test_a_fault_after_the_write_and_a_slow_answer(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    emulator.fail(502, path_contains="/batch/create", when="after")
    body = {"inputs": [{"properties": {"email": "ann@example.org"}}]}
    assert error_of(api.post(CONTACTS + "/batch/create", json=body), 502)
    assert [c["properties"]["email"] for c in emulator.contacts()] == ["ann@example.org"]
    emulator.latency(0.25)
    before = emulator.now_ms()
    api.get(CONTACTS)
    assert emulator.now_ms() - before == 250


def test_another_client_of_the_app_spends_the_same_window(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    emulator.other_client(60)
    assert api.get(CONTACTS).headers["X-HubSpot-RateLimit-Remaining"] == "39"
    emulator.rate_limits()
    for _ in range(39):
        assert api.get(CONTACTS).status_code == 200
    assert error_of(api.get(CONTACTS), 429)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert emulator.max_per_10s == 101


def test_search_rate_limit(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    emulator.rate_limits()
    for _ in range(5):
        assert api.post(SEARCH, json={}).status_code == 200
    body = error_of(api.post(SEARCH, json={}), 429)
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "SECONDLY"
    assert api.get(CONTACTS).status_code == 200  # other endpoints are not held back
    emulator.advance(1)
    assert api.post(SEARCH, json={}).status_code == 200
    assert emulator.max_search_per_second == 6


# ---- lists --------------------------------------------------------------------------------------


def test_lists_create_find_and_memberships(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    a = emulator.add_contact({"firstname": "A"})
    b = emulator.add_contact({"firstname": "B"})
    c = emulator.add_contact({"firstname": "C"})
    created = api.post(
        "/crm/v3/lists",
        json={"name": "PieSync / Friends", "objectTypeId": "0-1", "processingType": "MANUAL"},
    )
    assert created.status_code == 200, created.text
    lst = created.json()["list"]
    lid = lst["listId"]
    assert lst["processingType"] == "MANUAL" and lst["objectTypeId"] == "0-1"
    again = api.post(
        "/crm/v3/lists",
        json={"name": "piesync / friends", "objectTypeId": "0-1", "processingType": "MANUAL"},
    )
    assert error_of(again, 400)["subCategory"] == "ILS.DUPLICATE_LIST_NAMES"
    found = api.get("/crm/v3/lists/object-type-id/0-1/name/PieSync%20%2F%20Friends")
    assert found.status_code == 200 and found.json()["list"]["listId"] == lid
    assert error_of(api.get("/crm/v3/lists/object-type-id/0-1/name/nope"), 404)

    added = api.put(f"/crm/v3/lists/{lid}/memberships/add", json=[a, b, "999"]).json()
    assert added == {"recordsIdsAdded": [a, b], "recordIdsMissing": ["999"]}
    assert api.put(f"/crm/v3/lists/{lid}/memberships/add", json=[a]).json() == {}
    page = api.get(f"/crm/v3/lists/{lid}/memberships", params={"limit": 1}).json()
    assert [m["recordId"] for m in page["results"]] == [a]
    rest = api.get(
        f"/crm/v3/lists/{lid}/memberships", params={"after": page["paging"]["next"]["after"]}
    ).json()
    assert [m["recordId"] for m in rest["results"]] == [b] and "paging" not in rest
    both = api.put(
        f"/crm/v3/lists/{lid}/memberships/add-and-remove",
        json={"recordIdsToAdd": [c], "recordIdsToRemove": [a]},
    ).json()
    assert both == {"recordsIdsAdded": [c], "recordIdsRemoved": [a]}
    removed = api.put(f"/crm/v3/lists/{lid}/memberships/remove", json=[b]).json()
    assert removed == {"recordIdsRemoved": [b]}
    assert emulator.members(lid) == [c]
    of_c = api.get(f"/crm/v3/lists/records/0-1/{c}/memberships").json()
    assert of_c["total"] == 1 and of_c["results"][0]["listId"] == lid
    assert api.get(f"/crm/v3/lists/records/0-1/{a}/memberships").json()["results"] == []

    other = emulator.add_list("Colleagues")
    searched = api.post("/crm/v3/lists/search", json={"query": "friends"}).json()
    assert [x["listId"] for x in searched["lists"]] == [lid] and searched["hasMore"] is False
    assert searched["lists"][0]["additionalProperties"]["hs_list_size"] == "1"
    every = api.post("/crm/v3/lists/search", json={"query": "", "count": 1}).json()
    assert every["total"] == 2 and every["hasMore"] is True
    assert api.get(f"/crm/v3/lists/{other}").json()["list"]["name"] == "Colleagues"
    assert [x["name"] for x in emulator.lists()] == ["PieSync / Friends", "Colleagues"]
    emulator.archive_contact(c)
    assert emulator.members(lid) == []
    assert api.delete(f"/crm/v3/lists/{other}").status_code == 204
    assert error_of(api.get(f"/crm/v3/lists/{other}"), 404)


# ---- unsubscribes -------------------------------------------------------------------------------


def test_opt_out(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    out = emulator.add_contact({"email": "out@example.com"})
    emulator.add_contact({"email": "in@example.com"})
    emulator.advance(5)
    emulator.opt_out(out)
    got = api.get(f"{CONTACTS}/{out}", params={"properties": "hs_email_optout"}).json()
    assert got["properties"]["hs_email_optout"] == "true"
    assert got["properties"]["lastmodifieddate"] == "2026-01-01T00:00:05Z"
    refused = api.patch(f"{CONTACTS}/{out}", json={"properties": {"hs_email_optout": "false"}})
    assert issues_of(refused)[0]["error"] == "READ_ONLY_VALUE"
    status = api.get("/communication-preferences/v3/status/email/out@example.com").json()
    assert status["recipient"] == "out@example.com"
    assert {s["status"] for s in status["subscriptionStatuses"]} == {"NOT_SUBSCRIBED"}
    assert status["subscriptionStatuses"][0]["sourceOfStatus"] == "PORTAL_WIDE_STATUS"
    fine = api.get("/communication-preferences/v3/status/email/in%40example.com").json()
    assert {s["status"] for s in fine["subscriptionStatuses"]} == {"SUBSCRIBED"}


# ---- rate limits and faults ---------------------------------------------------------------------


def test_rate_limit_headers_and_the_burst_limit(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    first = api.get(CONTACTS)
    assert first.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "99"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "250000"
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "249999"
    emulator.rate_limits()
    for _ in range(99):
        assert api.get(CONTACTS, params={"limit": 1}).status_code == 200
    refused = api.get(CONTACTS)
    body = error_of(refused, 429)
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert "retry-after" not in refused.headers
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    emulator.advance(10)
    assert api.get(CONTACTS).status_code == 200
    assert emulator.max_per_10s == 101

    with HubSpotEmulator(tier="professional") as pro, client_for(pro) as client:
        assert client.get(CONTACTS).headers["X-HubSpot-RateLimit-Max"] == "190"
        assert client.get(CONTACTS).headers["X-HubSpot-RateLimit-Daily"] == "625000"


def test_throttle_fail_and_drop(emulator: HubSpotEmulator, api: httpx.Client) -> None:
    emulator.throttle(times=1, path_contains="/batch/", retry_after=3)
    throttled = api.post(CONTACTS + "/batch/read", json={"inputs": []})
    assert error_of(throttled, 429)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert throttled.headers["retry-after"] == "3"
    assert api.post(CONTACTS + "/batch/read", json={"inputs": []}).status_code == 200
    emulator.throttle(policy="DAILY")
    assert error_of(api.get(CONTACTS), 429)["policyName"] == "DAILY"

    emulator.fail(503, times=2, path_contains="/objects/contacts", after=1)
    assert api.get(CONTACTS).status_code == 200
    assert error_of(api.get(CONTACTS), 503)
    assert error_of(api.get(CONTACTS), 503)
    assert api.get(CONTACTS).status_code == 200
    emulator.fail()
    assert error_of(api.post("/crm/v3/lists/search", json={}), 500)

    emulator.drop()
    with pytest.raises(httpx.TransportError):
        api.get(CONTACTS)
    emulator.drop(when="after", path_contains=CONTACTS)
    with pytest.raises(httpx.TransportError):
        api.post(CONTACTS, json={"properties": {"firstname": "Lost answer"}})
    assert [c["properties"]["firstname"] for c in emulator.contacts()] == ["Lost answer"]
    assert emulator.count("POST", "/batch/") == 2
    assert emulator.requests[-1] == ("POST", CONTACTS)
    emulator.clear_requests()
    assert emulator.requests == []


def test_before_write_lets_another_client_edit(
    emulator: HubSpotEmulator, api: httpx.Client
) -> None:
    cid = emulator.add_contact({"email": "taken@example.com"})
    emulator.before_write(lambda method, path: emulator.edit_contact(cid, {"firstname": "Them"}))
    api.patch(f"{CONTACTS}/{cid}", json={"properties": {"lastname": "Us"}})
    props = emulator.contact(cid)["properties"]
    assert props["firstname"] == "Them" and props["lastname"] == "Us"
    emulator.scopes(CONTACT_WRITE)
    assert error_of(api.get(CONTACTS), 403)
