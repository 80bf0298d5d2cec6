"""The catalogue of apps and the APP:LOCATION spelling the CLI and the store use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from piesync_desktop.engine.connectors.base import (
    TagRemover,
    batched,
    catalogue,
    open_connector,
    parse_spec,
)
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.errors import ConfigError


def test_catalogue_lists_the_vcard_folder_with_what_it_can_do():
    [vcard] = [info for info in catalogue() if info.key == "vcard"]
    assert vcard.name == "vCard folder"
    assert vcard.capabilities.tags and vcard.capabilities.tag_noun == "category"
    assert vcard.capabilities.deletions and not vcard.capabilities.unsubscribes


def test_spec_is_split_on_the_first_colon(tmp_path):
    assert parse_spec(f"vcard:{tmp_path}") == ("vcard", str(tmp_path))
    connector = open_connector("vcard:C:/odd:name")
    assert isinstance(connector, VCardDir) and connector.location == "C:/odd:name"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("vcard", "is not APP:LOCATION"),
        (":/x", "is not APP:LOCATION"),
        ("fax:/x", "Unknown app 'fax'"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec)


def test_batched_covers_every_item_once():
    assert [list(b) for b in batched(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []


def test_catalogue_lists_carddav_with_what_it_can_do():
    [carddav] = [info for info in catalogue() if info.key == "carddav"]
    assert carddav.name == "CardDAV"
    assert carddav.capabilities.tags and carddav.capabilities.deletions
    assert carddav.capabilities.delta and not carddav.capabilities.unsubscribes


def test_a_folder_sync_never_loads_the_http_stack():
    code = (
        "import sys\n"
        "from piesync_desktop import cli\n"
        "from piesync_desktop.engine.connectors.base import open_connector\n"
        "open_connector('vcard:/tmp')\n"
        "print(sorted(m for m in ('httpx', 'keyring') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_apps_that_keep_group_objects_can_remove_a_tags_group():
    assert isinstance(open_connector("google:@ada@example.com"), TagRemover)
    assert isinstance(open_connector("carddav:https://me@dav.example.com/me/book/"), TagRemover)
    assert not isinstance(open_connector("vcard:/tmp"), TagRemover)
