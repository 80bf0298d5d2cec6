"""Fixtures for the wizard's tests: two real vCard folders, a wizard on a real profile's store
tasks, and a driver that clicks and types through the pages as a person does."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from helpers.wizard_driver import WizardDriver

from piesync_desktop.engine.connection_setup import (
    SideChoice,
    build_settings,
    default_setup,
    save_new_connection,
    validate_new_connection,
)
from piesync_desktop.engine.connectors.vcard_codec import new_card
from piesync_desktop.engine.model import Item
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.tasks import StoreTasks
from piesync_desktop.ui.wizard import ConnectionWizard


def write_card(
    folder: Path, uid: str, given: str, family: str, email: str = "", tags: Iterable[str] = ()
) -> Path:
    fields: dict = {"given_name": given, "family_name": family}
    if email:
        fields["emails"] = (Item("work", email),)
    path = folder / f"{uid}.vcf"
    path.write_text(new_card(uid, fields, frozenset(tags)), encoding="utf-8", newline="")
    return path


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """'work' with three cards (one a Customer, one a Friend), 'phone' with one."""
    work, phone = tmp_path / "work", tmp_path / "phone"
    work.mkdir()
    phone.mkdir()
    write_card(work, "ann", "Ann", "Lee", "ann@example.org", ["Customers"])
    write_card(work, "bob", "Bob", "Ray", "bob@example.org")
    write_card(work, "cy", "Cy", "Doe", "cy@example.org", ["Friends"])
    write_card(phone, "zed", "Zed", "Ox", "zed@example.org")
    return work, phone


def add_connection(store_path: Path, name: str, a: Path, b: Path, **options: object) -> None:
    """A connection saved the way the CLI's connect saves one."""
    a_spec, b_spec = f"vcard:{a}", f"vcard:{b}"
    a_connector, b_connector = validate_new_connection(a_spec, b_spec)
    mappings, rules = default_setup(a_connector, b_connector)
    left, right = SideChoice.of(a_spec, a_connector), SideChoice.of(b_spec, b_connector)
    settings = build_settings(name, left, right, mappings=mappings, rules=rules, **options)  # type: ignore[arg-type]
    with Store(store_path) as store:
        save_new_connection(store, settings, left, right)


@pytest.fixture
def store_path(profile: Path) -> Path:
    path = profile / "piesync.sqlite3"
    Store(path).close()
    return path


@pytest.fixture
def open_wizard(qtbot, store_tasks: StoreTasks, store_path: Path) -> Callable[..., WizardDriver]:
    """Open a wizard (new, or Edit of a connection) and return its driver."""

    def opened(existing: str | None = None) -> WizardDriver:
        wizard = ConnectionWizard(store_tasks, existing=existing)
        qtbot.addWidget(wizard)
        with qtbot.waitExposed(wizard):
            wizard.show()
        driver = WizardDriver(qtbot, wizard)
        driver.wait_loaded()
        return driver

    return opened


@pytest.fixture
def card_writer() -> Callable[..., Path]:
    return write_card


@pytest.fixture
def connection_adder(store_path: Path) -> Callable[..., None]:
    """Save a connection between two folders the way the CLI does."""
    return lambda name, a, b, **options: add_connection(store_path, name, a, b, **options)
