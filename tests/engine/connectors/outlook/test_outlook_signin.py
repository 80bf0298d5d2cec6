"""Microsoft sign-in through real msal (https with the emulator's certificate authority) against
MicrosoftIdentityEmulator: the browser flow with the test playing the browser, the device code
flow approved from the test thread, silent renewal, sign-out, and the errors a person reads."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import trustme
from emulators.ms_identity import MicrosoftIdentityEmulator

from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.connectors.outlook import signin
from piesync_desktop.engine.connectors.outlook.signin import (
    AUTHORITY,
    GRAPH_URL,
    SCOPES,
    MicrosoftAccounts,
    OutlookSettings,
    SignedIn,
    TokenSource,
    account_key,
)
from piesync_desktop.engine.errors import (
    AuthExpired,
    Cancelled,
    ConfigError,
    ConnectorError,
    TransientError,
)

ADA = "ada@contoso.com"
GRACE = "grace@fabrikam.com"


def service(username: str) -> tuple[str, str]:
    """The keyring entry of an account's token cache, as the in-memory keyring keys it."""
    return (f"piesync-desktop:{account_key(username)}", "token_cache")


@pytest.fixture(autouse=True)
def quick_device_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Device sign-ins poll every 50 ms (the emulator says interval 0, msal's whole seconds)."""
    monkeypatch.setattr(signin, "DEVICE_POLL_FLOOR", 0.05)


@pytest.fixture
def emulator() -> Iterator[MicrosoftIdentityEmulator]:
    server = MicrosoftIdentityEmulator(username=ADA, name="Ada Lovelace", device_interval=0)
    yield server
    server.close()


@pytest.fixture
def ca_file(emulator: MicrosoftIdentityEmulator, tmp_path: Path) -> Path:
    return emulator.ca_file(tmp_path / "emulator-ca.pem")


@pytest.fixture
def http(ca_file: Path) -> HttpSettings:
    """PIESYNC_CA_BUNDLE pointed at the emulator's authority, as a person would set it."""
    return HttpSettings.from_env({"PIESYNC_CA_BUNDLE": str(ca_file), "PIESYNC_HTTP_TIMEOUT": "5"})


@pytest.fixture
def settings(emulator: MicrosoftIdentityEmulator) -> OutlookSettings:
    return OutlookSettings.from_env(
        {"PIESYNC_MS_CLIENT_ID": emulator.client_id, "PIESYNC_MS_AUTHORITY": emulator.authority}
    )


@pytest.fixture
def accounts(settings: OutlookSettings, http: HttpSettings) -> Iterator[MicrosoftAccounts]:
    with MicrosoftAccounts(settings, http) as made:
        yield made


def consent(url: str, ca_file: Path) -> str:
    """The browser at Microsoft's sign-in page, the person agreeing: where it sends it back."""
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file))) as browser:
        answer = browser.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def come_back(location: str) -> httpx.Response:
    """The browser following Microsoft's redirect to the app's loopback server."""
    assert location.startswith("http://localhost:")
    return httpx.get(location, follow_redirects=False)


def sign_in(accounts: MicrosoftAccounts, ca_file: Path) -> SignedIn:
    with accounts.start_browser_sign_in() as flow:
        page = come_back(consent(flow.url, ca_file))
        assert page.status_code == 200
        return flow.wait(timeout=5)


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def cache_of(memory_keyring, username: str) -> dict:
    return json.loads(memory_keyring.secrets[service(username)])


def secrets_in(cache: dict) -> list[str]:
    return [
        entry["secret"]
        for kind in ("AccessToken", "RefreshToken", "IdToken")
        for entry in cache.get(kind, {}).values()
    ]


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Waiter(threading.Thread):
    """Runs a sign-in's wait() on a worker thread, as the program does."""

    def __init__(self, wait) -> None:
        super().__init__(daemon=True)
        self._wait = wait
        self.result: SignedIn | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._wait()
        except BaseException as exc:
            self.error = exc

    def outcome(self, timeout: float = 5.0) -> SignedIn | BaseException | None:
        self.join(timeout)
        assert not self.is_alive(), "wait() did not return"
        return self.error or self.result


# -- the emulator -----------------------------------------------------------------------------


def test_the_emulator_checks_the_pkce_verifier_and_uses_a_code_once(
    emulator: MicrosoftIdentityEmulator, ca_file: Path
) -> None:
    verifier = "v" * 43
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    challenge = challenge.rstrip(b"=").decode()
    authorize = emulator.authority + "/oauth2/v2.0/authorize?"
    params = {
        "client_id": emulator.client_id,
        "response_type": "code",
        "redirect_uri": "http://localhost:5000",
        "scope": "openid profile offline_access User.Read",
        "state": "s",
    }
    context = ssl.create_default_context(cafile=str(ca_file))
    with httpx.Client(verify=context) as client:
        no_pkce = client.get(authorize + urlencode(params))
        assert no_pkce.status_code == 400 and "AADSTS501491" in no_pkce.text
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        elsewhere = client.get(
            authorize + urlencode({**params, "redirect_uri": "http://127.0.0.1:5000"})
        )
        assert elsewhere.status_code == 400 and "AADSTS50011" in elsewhere.text
        answer = client.get(authorize + urlencode(params))
        assert answer.status_code == 302
        code = query_of(answer.headers["location"])["code"]
        form = {
            "client_id": emulator.client_id,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost:5000",
            "client_info": "1",
        }
        token_url = emulator.authority + "/oauth2/v2.0/token"
        wrong = client.post(token_url, data={**form, "code_verifier": "w" * 43})
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_grant"
        assert wrong.json()["error_codes"] == [501481]
        assert wrong.json()["error_description"].startswith("AADSTS501481: The Code_Verifier")
        right = client.post(token_url, data={**form, "code_verifier": verifier})
        assert right.status_code == 200, right.text
        tokens = right.json()
        assert {"access_token", "refresh_token", "id_token", "client_info"} <= tokens.keys()
        assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 3000
        again = client.post(token_url, data={**form, "code_verifier": verifier})
        assert again.json()["error_codes"] == [54005]
    assert emulator.token_valid(tokens["access_token"])
    assert emulator.token_username(tokens["access_token"]) == ADA


def test_msal_refuses_the_scopes_it_adds_itself(accounts: MicrosoftAccounts) -> None:
    app = accounts._new_app().app
    with pytest.raises(ValueError, match="reserved"):
        app.initiate_auth_code_flow(["offline_access", *SCOPES])


# -- settings ---------------------------------------------------------------------------------


def test_settings_from_the_environment() -> None:
    client_id = "4b0db8c2-9f26-4417-8bde-3f0a3656ae97"
    assert OutlookSettings.from_env({"PIESYNC_MS_CLIENT_ID": f" {client_id} "}) == (
        OutlookSettings(client_id, AUTHORITY, GRAPH_URL)
    )
    settings = OutlookSettings.from_env(
        {
            "PIESYNC_MS_CLIENT_ID": client_id,
            "PIESYNC_MS_AUTHORITY": "https://login.microsoftonline.us/contoso.onmicrosoft.com/",
            "PIESYNC_GRAPH_URL": "https://graph.microsoft.us/v1.0/",
        }
    )
    assert settings.authority == "https://login.microsoftonline.us/contoso.onmicrosoft.com"
    assert settings.graph_url == "https://graph.microsoft.us/v1.0"


def test_settings_errors_say_what_to_do() -> None:
    with pytest.raises(ConfigError) as missing:
        OutlookSettings.from_env({})
    assert missing.value.title == "Outlook sign-in not set up"
    assert "PIESYNC_MS_CLIENT_ID is not set" in missing.value.message
    assert "App registrations > New registration" in missing.value.message
    assert "http://localhost" in missing.value.message

    with pytest.raises(ConfigError, match="is not an Application \\(client\\) ID"):
        OutlookSettings.from_env({"PIESYNC_MS_CLIENT_ID": "my-app"})

    client_id = {"PIESYNC_MS_CLIENT_ID": "4b0db8c2-9f26-4417-8bde-3f0a3656ae97"}
    with pytest.raises(ConfigError, match="msal signs in over https only") as plain:
        OutlookSettings.from_env({**client_id, "PIESYNC_MS_AUTHORITY": "http://127.0.0.1:8/x"})
    assert plain.value.title == "Outlook sign-in not set up"
    with pytest.raises(ConfigError, match="names no tenant"):
        OutlookSettings.from_env(
            {**client_id, "PIESYNC_MS_AUTHORITY": "https://login.microsoftonline.com"}
        )
    with pytest.raises(ConfigError, match="https only"):
        MicrosoftAccounts(OutlookSettings(client_id["PIESYNC_MS_CLIENT_ID"], "http://x/common"))


# -- the browser sign-in ----------------------------------------------------------------------


def test_browser_sign_in_keeps_the_cache_in_the_keyring_only(
    emulator: MicrosoftIdentityEmulator,
    accounts: MicrosoftAccounts,
    ca_file: Path,
    tmp_path: Path,
    memory_keyring,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for name in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(home))
    monkeypatch.chdir(home)
    caplog.set_level(logging.DEBUG)

    with accounts.start_browser_sign_in() as flow:
        query = query_of(flow.url)
        # The browser's own requests are not the program's: keep them out of the logs checked.
        with (
            caplog.at_level(logging.WARNING, logger="httpx"),
            caplog.at_level(logging.WARNING, logger="httpcore"),
        ):
            location = consent(flow.url, ca_file)
            port = urlsplit(location).port
            assert httpx.get(f"http://127.0.0.1:{port}/favicon.ico").status_code == 404
            page = come_back(location)
        signed_in = flow.wait(timeout=5)
    assert signed_in == SignedIn(username=ADA, name="Ada Lovelace")
    assert page.status_code == 200 and "You can close this tab" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert flow.url.startswith(emulator.authority + "/oauth2/v2.0/authorize?")
    assert query["redirect_uri"] == f"http://localhost:{port}"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert set(query["scope"].split()) == {*SCOPES, "offline_access", "openid", "profile"}
    assert emulator.requests == ["openid-configuration", "authorize", "token authorization_code"]

    assert list(memory_keyring.secrets) == [service(ADA)]
    cache = cache_of(memory_keyring, ADA)
    (account,) = cache["Account"].values()
    assert account["username"] == ADA
    assert account["home_account_id"].count(".") == 1  # uid.utid, from client_info
    (refresh,) = cache["RefreshToken"].values()
    assert emulator.refresh_token_valid(refresh["secret"])
    (access,) = cache["AccessToken"].values()
    assert emulator.token_valid(access["secret"])
    assert accounts.access_token(ADA) == access["secret"]  # from the cache: no request
    assert emulator.requests[-1] == "token authorization_code"

    assert list(home.iterdir()) == []  # nothing went to a file
    code = query_of(location)["code"]
    said = caplog.text + "".join(capsys.readouterr())
    for secret in [code, *secrets_in(cache)]:
        assert secret not in said
    with pytest.raises(httpx.ConnectError):  # the loopback server stopped with wait()
        httpx.get(location.replace("localhost", "127.0.0.1"))


def test_browser_sign_in_refused_says_microsofts_words(
    emulator: MicrosoftIdentityEmulator, accounts: MicrosoftAccounts, ca_file: Path, memory_keyring
) -> None:
    emulator.deny_next()
    with accounts.start_browser_sign_in() as flow:
        location = consent(flow.url, ca_file)
        assert query_of(location)["error"] == "access_denied"
        page = come_back(location)
        with pytest.raises(AuthExpired) as refused:
            flow.wait(timeout=5)
    assert page.status_code == 200 and "not given access" in page.text
    assert refused.value.title == "Microsoft sign-in cancelled"
    assert "AADSTS65004: User declined to consent to access the app." in refused.value.message
    assert memory_keyring.secrets == {}
    assert "token authorization_code" not in emulator.requests


def test_browser_sign_in_cancelled_or_timed_out(
    accounts: MicrosoftAccounts, memory_keyring
) -> None:
    flags = threading.Event()
    with accounts.start_browser_sign_in() as flow:
        port = urlsplit(query_of(flow.url)["redirect_uri"]).port
        waiter = Waiter(lambda: flow.wait(cancelled=flags.is_set))
        waiter.start()
        time.sleep(0.1)
        flags.set()
        started = time.monotonic()
        outcome = waiter.outcome()
        assert time.monotonic() - started < 1.0
    assert isinstance(outcome, Cancelled)
    assert "cancelled" in outcome.message
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/?code=x&state=y")

    with accounts.start_browser_sign_in() as flow, pytest.raises(AuthExpired) as late:
        flow.wait(timeout=0.2)
    assert late.value.title == "Sign-in not finished"
    assert memory_keyring.secrets == {}


def test_an_answer_for_another_sign_in_is_refused(
    emulator: MicrosoftIdentityEmulator, accounts: MicrosoftAccounts, ca_file: Path, memory_keyring
) -> None:
    with accounts.start_browser_sign_in() as flow:
        parts = urlsplit(consent(flow.url, ca_file))
        query = {**query_of(parts.geturl()), "state": "someone-elses"}
        page = come_back(parts._replace(query=urlencode(query)).geturl())
        with pytest.raises(AuthExpired, match="does not belong"):
            flow.wait(timeout=5)
    assert page.status_code == 400
    assert memory_keyring.secrets == {}
    assert "token authorization_code" not in emulator.requests


# -- the device code sign-in ------------------------------------------------------------------


def test_device_sign_in_approved_from_another_device(
    emulator: MicrosoftIdentityEmulator, accounts: MicrosoftAccounts, memory_keyring
) -> None:
    flow = accounts.start_device_sign_in()
    assert flow.verification_uri.startswith(emulator.url)
    assert flow.user_code in flow.message and flow.verification_uri in flow.message
    assert 800 < flow.expires_at - time.time() <= 900
    waiter = Waiter(flow.wait)
    waiter.start()
    wait_for(lambda: emulator.requests.count("token device_code") >= 2)  # pending, still polling
    emulator.approve_device(flow.user_code)
    assert waiter.outcome() == SignedIn(username=ADA, name="Ada Lovelace")
    assert list(memory_keyring.secrets) == [service(ADA)]
    token = accounts.access_token(ADA)
    assert emulator.token_valid(token) and emulator.token_username(token) == ADA


def test_device_sign_in_cancelled_closed_declined_or_expired(
    emulator: MicrosoftIdentityEmulator, accounts: MicrosoftAccounts, memory_keyring
) -> None:
    cancel = threading.Event()
    flow = accounts.start_device_sign_in()
    waiter = Waiter(lambda: flow.wait(cancelled=cancel.is_set))
    waiter.start()
    wait_for(lambda: "token device_code" in emulator.requests)
    cancel.set()
    assert isinstance(waiter.outcome(timeout=1.0), Cancelled)

    flow = accounts.start_device_sign_in()
    waiter = Waiter(flow.wait)
    waiter.start()
    flow.close()
    assert isinstance(waiter.outcome(timeout=1.0), Cancelled)

    flow = accounts.start_device_sign_in()
    emulator.deny_device(flow.user_code)
    with pytest.raises(AuthExpired) as declined:
        flow.wait()
    assert declined.value.title == "Microsoft sign-in cancelled"
    assert "authorization_declined: AADSTS70000" in declined.value.message
    assert "Trace ID" not in declined.value.message

    flow = accounts.start_device_sign_in()
    emulator.expire_device_codes()
    with pytest.raises(AuthExpired, match=f"The code {flow.user_code} expired"):
        flow.wait()
    assert memory_keyring.secrets == {}


def test_an_app_registration_microsoft_does_not_know(
    emulator: MicrosoftIdentityEmulator, http: HttpSettings, memory_keyring
) -> None:
    settings = OutlookSettings(
        client_id="00000000-0000-0000-0000-000000000001", authority=emulator.authority
    )
    with MicrosoftAccounts(settings, http) as accounts, pytest.raises(ConnectorError) as unknown:
        accounts.start_device_sign_in()
    assert unknown.value.title == "Outlook sign-in not set up"
    assert "unauthorized_client: AADSTS700016: Application with identifier" in str(unknown.value)

    emulator.public_client_flows = False
    settings = OutlookSettings(emulator.client_id, emulator.authority)
    with (
        MicrosoftAccounts(settings, http) as accounts,
        pytest.raises(ConnectorError, match="Allow public client flows"),
    ):
        accounts.start_device_sign_in().wait()


# -- access tokens ----------------------------------------------------------------------------


def test_a_new_access_token_without_the_browser_after_a_401(
    emulator: MicrosoftIdentityEmulator,
    accounts: MicrosoftAccounts,
    settings: OutlookSettings,
    http: HttpSettings,
    ca_file: Path,
    memory_keyring,
) -> None:
    sign_in(accounts, ca_file)
    old_refresh = cache_of(memory_keyring, ADA)["RefreshToken"]
    with TokenSource(ADA.upper(), settings, http) as source:
        first = source.access_token()
        assert source.access_token() == first
        emulator.expire_access_tokens()
        assert not emulator.token_valid(first)
        source.invalidate()  # what the connector does when Graph answers 401
        second = source.access_token()
    assert second != first and emulator.token_valid(second)
    assert emulator.requests.count("authorize") == 1
    assert emulator.requests[-1] == "token refresh_token"
    assert cache_of(memory_keyring, ADA)["RefreshToken"] != old_refresh  # rotated, kept


def test_msal_renews_a_token_about_to_expire_by_itself(tmp_path: Path, memory_keyring) -> None:
    with MicrosoftIdentityEmulator(access_token_lifetime=120) as short:  # msal: < 5 min is old
        http = HttpSettings.from_env({"PIESYNC_CA_BUNDLE": str(short.ca_file(tmp_path / "s.pem"))})
        with MicrosoftAccounts(OutlookSettings(short.client_id, short.authority), http) as accounts:
            sign_in(accounts, tmp_path / "s.pem")
            first = accounts.access_token(ADA)
            second = accounts.access_token(ADA)
        assert first != second and short.token_valid(second)
        assert short.requests.count("token refresh_token") == 2


def test_a_revoked_sign_in_means_sign_in_again(
    emulator: MicrosoftIdentityEmulator, accounts: MicrosoftAccounts, ca_file: Path
) -> None:
    sign_in(accounts, ca_file)
    emulator.revoke_refresh_tokens()
    assert emulator.token_valid(accounts.access_token(ADA))  # the hour's token still works
    with pytest.raises(AuthExpired) as expired:
        accounts.access_token(ADA, force_refresh=True)
    assert expired.value.title == "Sign in again"
    assert expired.value.message.startswith(
        f"Microsoft no longer accepts the sign-in of {ADA} (invalid_grant: AADSTS700082: "
        "The refresh token has expired due to inactivity."
    )
    assert expired.value.message.endswith("). Sign in again.")


def test_a_server_error_is_transient_and_msal_holds_off_a_minute(
    emulator: MicrosoftIdentityEmulator,
    accounts: MicrosoftAccounts,
    settings: OutlookSettings,
    http: HttpSettings,
    ca_file: Path,
) -> None:
    sign_in(accounts, ca_file)
    emulator.fail_next_token_request(500)
    with pytest.raises(TransientError) as failed:
        accounts.access_token(ADA, force_refresh=True)
    assert failed.value.message.startswith("127.0.0.1 answered HTTP 500 to the sign-in.")
    asked = len(emulator.requests)
    # msal answers the same again for 60 s without asking (its service protection) ...
    with pytest.raises(TransientError):
        accounts.access_token(ADA, force_refresh=True)
    assert len(emulator.requests) == asked
    # ... which a later run, with msal made anew, does not inherit.
    with MicrosoftAccounts(settings, http) as later:
        assert emulator.token_valid(later.access_token(ADA, force_refresh=True))


def test_sign_out_forgets_the_account(
    emulator: MicrosoftIdentityEmulator,
    accounts: MicrosoftAccounts,
    settings: OutlookSettings,
    http: HttpSettings,
    ca_file: Path,
    memory_keyring,
) -> None:
    sign_in(accounts, ca_file)
    with MicrosoftAccounts(settings, http) as elsewhere:  # another connection's, already in use
        elsewhere.access_token(ADA)
        assert accounts.sign_out(ADA.title()) is True
        assert memory_keyring.secrets == {}
        for either in (accounts, elsewhere):
            with pytest.raises(AuthExpired, match=f"not signed in to Microsoft as {ADA}"):
                either.access_token(ADA)
    assert accounts.sign_out(ADA) is False
    with pytest.raises(AuthExpired, match="not signed in"):
        TokenSource(ADA, settings, http).access_token()


def test_two_accounts_side_by_side_keep_their_own_caches(
    emulator: MicrosoftIdentityEmulator, accounts: MicrosoftAccounts, ca_file: Path, memory_keyring
) -> None:
    assert sign_in(accounts, ca_file).username == ADA
    emulator.username, emulator.name = "Grace@Fabrikam.com", "Grace Hopper"
    assert sign_in(accounts, ca_file) == SignedIn(username=GRACE, name="Grace Hopper")
    assert set(memory_keyring.secrets) == {service(ADA), service(GRACE)}
    for username in (ADA, GRACE):
        (account,) = cache_of(memory_keyring, username)["Account"].values()
        assert account["username"].lower() == username
        assert emulator.token_username(accounts.access_token(username)).lower() == username
    assert accounts.sign_out(ADA)
    assert set(memory_keyring.secrets) == {service(GRACE)}
    token = accounts.access_token(GRACE, force_refresh=True)
    assert emulator.token_username(token) == "Grace@Fabrikam.com"


def test_two_runs_on_one_account_do_not_lose_a_refreshed_token(
    tmp_path: Path, memory_keyring
) -> None:
    """Refresh tokens that work once (stricter than Microsoft) catch a run that writes back a
    cache older than the one another run just saved."""
    with MicrosoftIdentityEmulator(single_use_refresh_tokens=True) as strict:
        http = HttpSettings.from_env({"PIESYNC_CA_BUNDLE": str(strict.ca_file(tmp_path / "s.pem"))})
        settings = OutlookSettings(strict.client_id, strict.authority)
        with (
            MicrosoftAccounts(settings, http) as first,
            MicrosoftAccounts(settings, http) as second,
        ):
            sign_in(first, tmp_path / "s.pem")
            second.access_token(ADA)  # both have the cache in memory now
            tokens: list[str] = []
            errors: list[BaseException] = []

            def renew(accounts: MicrosoftAccounts) -> None:
                try:
                    for _ in range(3):
                        tokens.append(accounts.access_token(ADA, force_refresh=True))
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=renew, args=(a,)) for a in (first, second) * 2]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(5)
        assert errors == []
        assert len(set(tokens)) == 12
        (refresh,) = cache_of(memory_keyring, ADA)["RefreshToken"].values()
        assert strict.refresh_token_valid(refresh["secret"])


def test_started_while_microsoft_is_unreachable_then_working(
    tmp_path: Path, memory_keyring
) -> None:
    ca = trustme.CA()
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client_id = "4b0db8c2-9f26-4417-8bde-3f0a3656ae97"
    settings = OutlookSettings(client_id, authority=f"https://127.0.0.1:{port}/common")
    http = HttpSettings.from_env({"PIESYNC_CA_BUNDLE": str(ca_path), "PIESYNC_HTTP_TIMEOUT": "5"})
    with MicrosoftAccounts(settings, http) as accounts:  # no I/O yet
        with pytest.raises(TransientError) as offline:
            accounts.start_browser_sign_in()
        assert offline.value.title == "Server unreachable"
        assert offline.value.message.startswith("Cannot reach 127.0.0.1: ")
        with MicrosoftIdentityEmulator(port=port, ca=ca, client_id=client_id) as emulator:
            assert sign_in(accounts, ca_path).username == ADA
            assert emulator.token_valid(accounts.access_token(ADA))
        # Gone again: the cached token still serves, a renewal is a TransientError.
        assert accounts.access_token(ADA)
        with pytest.raises(TransientError):
            accounts.access_token(ADA, force_refresh=True)
