"""A real OpenID Connect provider on localhost, in a thread: `oidc-provider-mock` (Authlib's
authorization server behind Flask), with `require_nonce=True`.

It serves discovery, JWKS (a fresh RSA key per server), the authorization endpoint (a form:
POST `sub=<subject>` approves, `action=deny` refuses), the token endpoint (codes are single
use and bound to the client id) and userinfo. A test sets a subject's claims with
`set_user(sub, email=..., email_verified=...)` (`PUT /users/<sub>`). Any client id and secret
are accepted. It does NOT check PKCE: the `code_challenge` is ignored at the authorization
endpoint and the `code_verifier` at the token endpoint (no Authlib `CodeChallenge` extension
is registered), so our own refusals must cover a missing verifier.

Use the `oidc_provider` fixture (or `running_oidc_provider()` for a second issuer); import it
with a redundant alias: `from tests.support.oidc_provider import oidc_provider as oidc_provider`.

`Browser` is the other side of a sign-in: one cookie jar, our API in-process, providers over
HTTP, redirects followed by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from oidc_provider_mock import run_server_in_thread
from starlette.types import ASGIApp
from werkzeug.serving import BaseWSGIServer

from stylestudio.api.routes import build_api
from stylestudio.db import dispose_engines
from stylestudio.settings import get_settings

CLIENT_ID = "style-studio-test"
CLIENT_SECRET = "style-studio-test-secret"


@dataclass(frozen=True)
class MockIssuer:
    server: BaseWSGIServer

    @property
    def issuer(self) -> str:
        """The issuer URL; the mock names itself by the Host it is reached at."""
        return f"http://localhost:{self.server.server_port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def set_user(self, sub: str, **claims: object) -> None:
        """The claims the provider gives `sub` (in its ID token and userinfo)."""
        response = httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=10)
        response.raise_for_status()


@contextmanager
def running_oidc_provider() -> Iterator[MockIssuer]:
    with run_server_in_thread(require_nonce=True) as server:
        yield MockIssuer(server)


@pytest.fixture
def oidc_provider() -> Iterator[MockIssuer]:
    """A running OpenID Connect provider for one test."""
    with running_oidc_provider() as issuer:
        yield issuer


# -- the browser side ---------------------------------------------------------------------

API_URL = "http://api.test"  # our Starlette app, reached through httpx's ASGI transport
APP_URL = "http://app.test"  # the pages (frontend_url); never fetched
USER_AGENT = "StyleStudioTestBrowser/1.0"


class Browser:
    """One browser: a cookie jar, our API in-process (ASGI) and providers over real HTTP.
    Redirects are followed by hand, so each hop can be looked at or tampered with."""

    def __init__(self, api: ASGIApp) -> None:
        self.client = httpx.AsyncClient(
            mounts={API_URL: httpx.ASGITransport(app=api)},
            headers={"User-Agent": USER_AGENT},
            timeout=10,
        )

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def start(self, provider: str, next_path: str | None = None) -> str:
        """Click "Sign in with <provider>": the provider's authorization URL we redirect to."""
        params = {"next": next_path} if next_path is not None else {}
        response = await self.client.get(
            f"{API_URL}/api/auth/oauth/{provider}/start", params=params
        )
        assert response.status_code == 302, response.text
        return response.headers["location"]

    async def approve(self, authorization_url: str, sub: str) -> str:
        """Sign in at the mock OIDC provider as `sub`: the callback URL it redirects to."""
        page = await self.client.get(authorization_url)
        assert page.status_code == 200, page.text
        response = await self.client.post(authorization_url, data={"sub": sub})
        assert response.status_code == 302, response.text
        return response.headers["location"]

    async def deny(self, authorization_url: str) -> str:
        response = await self.client.post(authorization_url, data={"action": "deny"})
        assert response.status_code == 302, response.text
        return response.headers["location"]

    async def follow(self, url: str) -> httpx.Response:
        """One GET, redirects not followed (GitHub's authorize, or our callback)."""
        return await self.client.get(url)

    async def sign_in(
        self, provider: str, sub: str, next_path: str | None = None
    ) -> httpx.Response:
        """The whole flow at a mock OIDC provider; the callback's response."""
        callback = await self.approve(await self.start(provider, next_path), sub)
        return await self.follow(callback)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.client.cookies.jar if c.name == name), None)

    def set_oauth_cookie(self, value: str) -> None:
        self.client.cookies.set("ss_oauth", value, domain="api.test", path="/api/auth/oauth")


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def with_query(url: str, **changes: str) -> str:
    """`url` with some query parameters replaced."""
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query)), **changes}
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def configured_api(database_url: str, **env: str) -> Iterator[ASGIApp]:
    """Our API (`build_api()`) with settings from these environment variables (and no
    provider configured unless named here), restored afterwards."""
    defaults = {
        "STYLESTUDIO_ENV": "test",
        "STYLESTUDIO_API_URL": API_URL,
        "STYLESTUDIO_PUBLIC_URL": APP_URL,
        "GOOGLE_CLIENT_ID": "",
        "GITHUB_CLIENT_ID": "",
        "OIDC_ISSUER_URL": "",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**defaults, "DATABASE_URL": database_url, **env}.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield build_api()
        finally:
            dispose_engines()
            get_settings.cache_clear()
