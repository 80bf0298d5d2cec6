"""Real CardDAV servers on loopback for the connectors' tests, and a fault proxy in front of one.

Scopes, as measured here: Radicale starts and stops in about 0.25 s, so each test gets its own
(a test may stop it, or read its storage). Xandikos takes about 0.55 s, so one serves a whole
test module. Either way, a test makes its own address book:
`server.make_addressbook(fresh_name())`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from helpers.dav_servers import DavServer, start_radicale, start_xandikos
from helpers.fault_proxy import FaultProxy


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[DavServer]:
    """Radicale, auth none (anonymous requests are fine; any Basic user is taken as given)."""
    server = start_radicale(tmp_path / "radicale")
    yield server
    server.stop()


@pytest.fixture
def radicale_auth(tmp_path: Path) -> Iterator[DavServer]:
    """Radicale with Basic auth: alice / "s3cret pass"."""
    server = start_radicale(tmp_path / "radicale-auth", auth=True)
    yield server
    server.stop()


@pytest.fixture
def radicale_tls(tmp_path: Path) -> Iterator[DavServer]:
    """Radicale over https, with a certificate from a throwaway authority (its PEM: ca_file)."""
    server = start_radicale(tmp_path / "radicale-tls", tls=trustme.CA())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    """Xandikos, no auth, shared by the module's tests (make a fresh book per test)."""
    if importlib.util.find_spec("xandikos") is None:
        pytest.skip("Xandikos is not installed in this virtualenv (pip install xandikos)")
    server = start_xandikos(tmp_path_factory.mktemp("xandikos"))
    yield server
    server.stop()


@pytest.fixture(params=["radicale", "xandikos"])
def dav_server(request: pytest.FixtureRequest) -> DavServer:
    """Each real server in turn."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def fault_proxy(radicale: DavServer) -> Iterator[FaultProxy]:
    """A FaultProxy in front of `radicale`; fails the test if a `before` callback raised."""
    proxy = FaultProxy(radicale)
    yield proxy
    proxy.close()
    if proxy.errors:
        pytest.fail("a FaultProxy.before callback raised:\n" + "\n".join(proxy.errors))
