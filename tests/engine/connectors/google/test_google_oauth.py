"""Google sign-in for an installed app, through the real code path (https with the emulator's
certificate authority included) against GoogleOAuthEmulator; the test plays the browser."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from emulators.google_oauth import GoogleOAuthEmulator

from piesync_desktop.engine.connectors.google import oauth
from piesync_desktop.engine.connectors.google.oauth import (
    SCOPES,
    GoogleSettings,
    LoopbackSignIn,
    Tokens,
    TokenSource,
    account_key,
    save_sign_in,
    sign_out,
)
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.errors import (
    AuthExpired,
    Cancelled,
    ConfigError,
    ConnectorError,
    TransientError,
)

EMAIL = "Ada.Lovelace@example.com"
SERVICE = "piesync-desktop:google:ada.lovelace@example.com"


@pytest.fixture
def emulator() -> Iterator[GoogleOAuthEmulator]:
    server = GoogleOAuthEmulator(email=EMAIL)
    yield server
    server.close()


@pytest.fixture
def ca_file(emulator: GoogleOAuthEmulator, tmp_path: Path) -> Path:
    return emulator.ca_file(tmp_path / "emulator-ca.pem")


@pytest.fixture
def http(ca_file: Path) -> HttpSettings:
    """PIESYNC_CA_BUNDLE pointed at the emulator's authority, as a person would set it."""
    return HttpSettings.from_env({"PIESYNC_CA_BUNDLE": str(ca_file), "PIESYNC_HTTP_TIMEOUT": "5"})


@pytest.fixture
def settings(emulator: GoogleOAuthEmulator) -> GoogleSettings:
    return GoogleSettings.from_env(
        {
            "PIESYNC_GOOGLE_CLIENT_ID": emulator.client_id,
            "PIESYNC_GOOGLE_CLIENT_SECRET": emulator.client_secret,
            **emulator.urls(),
        }
    )


def consent(url: str, ca_file: Path) -> str:
    """The browser at Google's consent page, the person agreeing: where Google sends it back."""
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file))) as browser:
        answer = browser.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def come_back(location: str) -> httpx.Response:
    """The browser following Google's redirect to the loopback server."""
    assert location.startswith("http://127.0.0.1:")
    return httpx.get(location, follow_redirects=False)


def sign_in(settings: GoogleSettings, http: HttpSettings, ca_file: Path) -> Tokens:
    with LoopbackSignIn(settings, http) as flow:
        page = come_back(consent(flow.url, ca_file))
        assert page.status_code == 200
        return flow.wait(timeout=5)


def with_query(location: str, **changes: str) -> str:
    parts = urlsplit(location)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_the_address_asks_for_offline_access_with_an_s256_challenge(
    settings: GoogleSettings,
) -> None:
    with LoopbackSignIn(settings) as flow:
        parts = urlsplit(flow.url)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == settings.auth_url
    port = urlsplit(flow.redirect_uri).port
    assert query["redirect_uri"] == f"http://127.0.0.1:{port}/" == flow.redirect_uri
    assert query["response_type"] == "code"
    assert query["client_id"] == settings.client_id
    assert query["scope"].split() == list(SCOPES)
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert len(query["state"]) >= 32
    assert "client_secret" not in query and settings.client_secret not in flow.url


def test_sign_in_keeps_the_refresh_token_in_the_keyring_only(
    emulator: GoogleOAuthEmulator,
    settings: GoogleSettings,
    http: HttpSettings,
    ca_file: Path,
    tmp_path: Path,
    memory_keyring,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with LoopbackSignIn(settings, http) as flow:
        location = consent(flow.url, ca_file)
        assert httpx.get(flow.redirect_uri + "favicon.ico").status_code == 404  # not the answer
        page = come_back(location)
        tokens = flow.wait(timeout=5)
    assert page.status_code == 200
    assert "You can close this tab" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert tokens.account == EMAIL
    assert account_key(tokens.account) == "google:ada.lovelace@example.com"
    assert oauth.CONTACTS_SCOPE in tokens.scope.split()
    assert 3500 < tokens.expires_at - time.time() <= 3600
    assert emulator.token_valid(tokens.access_token)
    assert emulator.requests == ["authorize", "token authorization_code"]

    save_sign_in(tokens)
    assert memory_keyring.secrets == {(SERVICE, "refresh_token"): tokens.refresh_token}

    # The server stopped with wait(): nothing listens on the port any more.
    with pytest.raises(httpx.ConnectError):
        httpx.get(location)

    secrets = (tokens.access_token, tokens.refresh_token, settings.client_secret)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(secret.encode() in content for secret in secrets), path
    output = capsys.readouterr()
    shown = caplog.text + output.out + output.err + repr(tokens) + repr(settings)
    assert not any(secret in shown for secret in secrets)
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert code not in caplog.text


def test_a_code_without_its_verifier_is_refused(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings, ca_file: Path
) -> None:
    """PKCE: whoever intercepts the code cannot redeem it without the verifier."""
    with LoopbackSignIn(settings, http) as flow:
        location = consent(flow.url, ca_file)
        code = parse_qs(urlsplit(location).query)["code"][0]
        stolen = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "redirect_uri": flow.redirect_uri,
        }
        verify = ssl.create_default_context(cafile=str(ca_file))
        with httpx.Client(verify=verify) as thief:
            guessed = thief.post(settings.token_url, data={**stolen, "code_verifier": "x" * 64})
            missing = thief.post(settings.token_url, data=stolen)
        assert guessed.status_code == 400
        assert guessed.json() == {
            "error": "invalid_grant",
            "error_description": "Invalid code verifier.",
        }
        assert missing.json()["error"] == "invalid_grant"

        # The app that holds the verifier still gets its tokens, once.
        come_back(location)
        tokens = flow.wait(timeout=5)
    assert emulator.token_valid(tokens.access_token)
    with httpx.Client(verify=verify) as thief:
        again = thief.post(settings.token_url, data={**stolen, "code_verifier": flow._verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_an_answer_for_another_sign_in_is_refused(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings, ca_file: Path
) -> None:
    with LoopbackSignIn(settings, http) as flow:
        forged = with_query(consent(flow.url, ca_file), state="someone-elses-state")
        page = come_back(forged)
        with pytest.raises(AuthExpired) as refused:
            flow.wait(timeout=5)
    assert page.status_code == 400
    assert "refused" in page.text
    assert "does not belong to the sign-in" in refused.value.message
    assert "token authorization_code" not in emulator.requests  # the code was never redeemed


def test_access_denied_says_so_in_a_sentence(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings, ca_file: Path
) -> None:
    emulator.deny_next()
    with LoopbackSignIn(settings, http) as flow:
        location = consent(flow.url, ca_file)
        assert "error=access_denied" in location
        page = come_back(location)
        with pytest.raises(AuthExpired) as denied:
            flow.wait(timeout=5)
    assert page.status_code == 200 and "You can close this tab" in page.text
    assert denied.value.message == (
        "You did not allow piesync-desktop to use your Google contacts, so nothing was "
        "connected. Sign in to Google again and choose Allow to connect them."
    )
    assert emulator.requests == ["authorize"]


def test_contacts_left_unticked_on_the_consent_screen_is_no_sign_in(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings, ca_file: Path
) -> None:
    emulator.withheld_scopes.add(oauth.CONTACTS_SCOPE)
    with pytest.raises(AuthExpired, match="did not let piesync-desktop see and edit"):
        sign_in(settings, http, ca_file)
    assert emulator.requests[-1] == "revoke"  # the narrower grant is not left behind


def test_access_tokens_are_renewed_when_expired_or_refused(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings, ca_file: Path
) -> None:
    save_sign_in(sign_in(settings, http, ca_file))
    with TokenSource(EMAIL.lower(), settings, http) as source:
        first = source.access_token()  # none in memory: refreshed with the keyring's token
        assert source.access_token() == first
        assert emulator.requests.count("token refresh_token") == 1
        assert emulator.token_valid(first)

        emulator.expire_access_tokens()  # the API now answers 401, so the connector says so
        source.invalidate()
        second = source.access_token()
    assert second != first
    assert not emulator.token_valid(first) and emulator.token_valid(second)
    assert emulator.requests.count("token refresh_token") == 2


def test_an_access_token_about_to_expire_is_renewed_first(tmp_path: Path) -> None:
    with GoogleOAuthEmulator(email=EMAIL, access_token_lifetime=30) as short:
        short_settings = GoogleSettings(short.client_id, short.client_secret, **_urls(short.urls()))
        short_http = HttpSettings(ca_bundle=str(short.ca_file(tmp_path / "short-ca.pem")))
        tokens = sign_in(short_settings, short_http, tmp_path / "short-ca.pem")
        save_sign_in(tokens)
        source = TokenSource(EMAIL, short_settings, short_http, tokens=tokens)
        first = source.access_token()  # 30 s left is under the margin: renewed at once
        second = source.access_token()
        source.close()
        assert tokens.access_token != first != second
        assert short.token_valid(second)
        assert short.requests.count("token refresh_token") == 2


def test_a_fresh_sign_in_spares_the_first_refresh(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings, ca_file: Path
) -> None:
    tokens = sign_in(settings, http, ca_file)
    save_sign_in(tokens)
    with TokenSource(EMAIL, settings, http, tokens=tokens) as source:
        assert source.access_token() == tokens.access_token
    assert "token refresh_token" not in emulator.requests


def test_a_revoked_sign_in_asks_to_sign_in_again(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings, ca_file: Path
) -> None:
    save_sign_in(sign_in(settings, http, ca_file))
    emulator.revoke_all()  # the person removed piesync-desktop from their Google account
    with TokenSource(EMAIL, settings, http) as source, pytest.raises(AuthExpired) as expired:
        source.access_token()
    assert expired.value.title == "Sign in again"
    assert "Google no longer accepts piesync-desktop's sign-in for Ada.Lovelace@example.com" in (
        expired.value.message
    )
    assert "Sign in to Google again" in expired.value.message


def test_no_sign_in_in_the_keyring_asks_to_sign_in(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings
) -> None:
    with TokenSource(EMAIL, settings, http) as source, pytest.raises(AuthExpired) as missing:
        source.access_token()
    assert "not signed in to Google as Ada.Lovelace@example.com" in missing.value.message
    assert emulator.requests == []


def test_network_and_server_trouble_are_temporary(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, http: HttpSettings, ca_file: Path
) -> None:
    save_sign_in(sign_in(settings, http, ca_file))
    emulator.fail_next_token_request(500)
    with TokenSource(EMAIL, settings, http) as source:
        with pytest.raises(TransientError, match="answered 500"):
            source.access_token()
        assert source.access_token()  # the next try works
    emulator.close()
    with TokenSource(EMAIL, settings, http) as source, pytest.raises(TransientError) as down:
        source.access_token()
    assert down.value.title == "Server unreachable"
    assert "Cannot reach 127.0.0.1" in down.value.message


def test_an_untrusted_certificate_is_refused(
    emulator: GoogleOAuthEmulator, settings: GoogleSettings, ca_file: Path
) -> None:
    save_sign_in(sign_in(settings, HttpSettings(ca_bundle=str(ca_file)), ca_file))
    with (
        TokenSource(EMAIL, settings, HttpSettings()) as source,
        pytest.raises(ConnectorError) as untrusted,
    ):
        source.access_token()
    assert untrusted.value.title == "Certificate problem"
    assert "PIESYNC_CA_BUNDLE" in untrusted.value.message


def test_sign_out_revokes_at_google_and_forgets_here(
    emulator: GoogleOAuthEmulator,
    settings: GoogleSettings,
    http: HttpSettings,
    ca_file: Path,
    memory_keyring,
) -> None:
    tokens = sign_in(settings, http, ca_file)
    save_sign_in(tokens)
    result = sign_out(EMAIL, settings, http)
    assert result.revoked and result.forgotten
    assert result.message.startswith("Signed out of Google as Ada.Lovelace@example.com: Google")
    assert memory_keyring.secrets == {}
    assert not emulator.refresh_token_valid(tokens.refresh_token)
    assert not emulator.token_valid(tokens.access_token)  # its access tokens went with it
    again = sign_out(EMAIL, settings, http)
    assert not again.forgotten and "nothing to sign out of" in again.message


def test_sign_out_without_google_still_forgets_and_says_so(
    emulator: GoogleOAuthEmulator,
    settings: GoogleSettings,
    http: HttpSettings,
    ca_file: Path,
    memory_keyring,
) -> None:
    tokens = sign_in(settings, http, ca_file)
    save_sign_in(tokens)
    emulator.close()
    result = sign_out(EMAIL, settings, http)
    assert result.forgotten and not result.revoked
    assert "could not be told" in result.message
    assert "https://myaccount.google.com/permissions" in result.message
    assert memory_keyring.secrets == {}
    assert tokens.refresh_token not in result.message


def test_cancel_stops_waiting_within_a_second(settings: GoogleSettings) -> None:
    stop = threading.Event()
    flow = LoopbackSignIn(settings)
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        flow.wait(cancelled=stop.is_set)
    assert time.monotonic() - started < 1.0
    with pytest.raises(httpx.ConnectError):
        httpx.get(flow.redirect_uri, timeout=1)  # the port is closed


def test_no_answer_in_time_ends_the_sign_in(settings: GoogleSettings) -> None:
    with LoopbackSignIn(settings) as flow, pytest.raises(AuthExpired) as late:
        flow.wait(timeout=0.3)
    assert late.value.title == "Sign-in not finished"
    assert "within 0.3 seconds" in late.value.message


def test_settings_come_from_the_environment() -> None:
    settings = GoogleSettings.from_env(
        {
            "PIESYNC_GOOGLE_CLIENT_ID": " id.apps.googleusercontent.com ",
            "PIESYNC_GOOGLE_CLIENT_SECRET": "GOCSPX-s3cret",
            "PIESYNC_PEOPLE_URL": "https://127.0.0.1:9/",
        }
    )
    assert settings.client_id == "id.apps.googleusercontent.com"
    assert settings.auth_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert settings.token_url == "https://oauth2.googleapis.com/token"
    assert settings.revoke_url == "https://oauth2.googleapis.com/revoke"
    assert settings.people_url == "https://127.0.0.1:9/"
    assert "GOCSPX-s3cret" not in repr(settings)


def test_a_missing_client_says_how_to_make_one() -> None:
    with pytest.raises(ConfigError) as missing:
        GoogleSettings.from_env({})
    message = missing.value.message
    assert message.startswith(
        "PIESYNC_GOOGLE_CLIENT_ID and PIESYNC_GOOGLE_CLIENT_SECRET are not set."
    )
    assert '"Desktop app"' in message and "People API" in message


def _urls(env: dict[str, str]) -> dict[str, str]:
    return {
        "auth_url": env["PIESYNC_GOOGLE_AUTH_URL"],
        "token_url": env["PIESYNC_GOOGLE_TOKEN_URL"],
        "revoke_url": env["PIESYNC_GOOGLE_REVOKE_URL"],
    }
