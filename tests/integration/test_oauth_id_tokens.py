"""ID tokens that must not sign anyone in: a small issuer on localhost (discovery, JWKS,
token endpoint) answers the code exchange with a token the test crafts (wrong signature,
issuer, audience, nonce, expiry, `alg`), and the callback must refuse it."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy.engine import Engine
from sqlmodel import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from stylestudio.db import session_scope
from stylestudio.models import OAuthLogin, User, UserSession
from stylestudio.services.accounts.oauth_accounts import OAUTH_ERRORS
from tests.support.oidc_provider import (
    API_URL,
    APP_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    Browser,
    configured_api,
    query_of,
)
from tests.support.server_thread import ServerThread

Claims = dict[str, Any]


class CraftedIssuer(ServerThread):
    """An OpenID Connect issuer whose token endpoint returns whatever ID token `craft`
    builds from the claims a correct token would have."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
        self.craft: Callable[[CraftedIssuer, Claims], str] = _signed
        self.nonce = ""  # the nonce of the sign-in being answered, set by the test
        self.discovery_issuer: str | None = None  # what discovery claims, if not the truth
        self.token_endpoint: str | None = None  # where discovery says it is, if not here
        self.token_status = 200  # e.g. 503: the token endpoint is down
        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/token", self._token, methods=["POST"]),
            ]
        )
        super().__init__(app, name="the crafted OIDC issuer")
        self.start()
        self.issuer = f"http://localhost:{self.port}"

    def good_claims(self) -> Claims:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "sub": "crafted-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce,
            "email": "eve@example.com",
            "email_verified": True,
        }

    async def _discovery(self, _request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "issuer": self.discovery_issuer or self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": self.token_endpoint or f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _jwks(self, _request: Request) -> JSONResponse:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def _token(self, _request: Request) -> JSONResponse:
        if self.token_status != 200:
            return JSONResponse({"message": "unavailable"}, status_code=self.token_status)
        id_token = self.craft(self, self.good_claims())
        return JSONResponse(
            {
                "access_token": "at-1",
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
            }
        )


def _signed(issuer: CraftedIssuer, claims: Claims) -> str:
    return jwt.encode({"alg": "RS256", "kid": "key-1"}, claims, issuer.key)


def _changed(**changes: object) -> Callable[[CraftedIssuer, Claims], str]:
    def craft(issuer: CraftedIssuer, claims: Claims) -> str:
        merged = {**claims, **changes}
        return _signed(issuer, {k: v for k, v in merged.items() if v is not None})

    return craft


def _other_key(kid: str) -> Callable[[CraftedIssuer, Claims], str]:
    def craft(_issuer: CraftedIssuer, claims: Claims) -> str:
        forger = RSAKey.generate_key(2048, parameters={"kid": kid})
        return jwt.encode({"alg": "RS256", "kid": kid}, claims, forger)

    return craft


def _unsigned(_issuer: CraftedIssuer, claims: Claims) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _hmac_with_client_secret(_issuer: CraftedIssuer, claims: Claims) -> str:
    key = OctKey.import_key(CLIENT_SECRET.encode())
    return jwt.encode({"alg": "HS256"}, claims, key, algorithms=["HS256"])


@pytest.fixture
def issuer() -> Iterator[CraftedIssuer]:
    crafted = CraftedIssuer()
    try:
        yield crafted
    finally:
        crafted.stop()


@pytest.fixture
def api(db: Engine, issuer: CraftedIssuer) -> Iterator[ASGIApp]:
    with configured_api(
        db.url.render_as_string(hide_password=False),
        OIDC_ISSUER_URL=issuer.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
    ) as app:
        yield app


async def _callback(browser: Browser, issuer: CraftedIssuer) -> tuple[str, str]:
    """Start a sign-in and come back from the issuer with a code: the callback's Location."""
    sent = query_of(await browser.start("oidc"))
    issuer.nonce = sent["nonce"]
    callback = f"{API_URL}/api/auth/oauth/oidc/callback?code=c-1&state={sent['state']}"
    response = await browser.follow(callback)
    assert response.status_code == 303
    return response.headers["location"], response.headers.get("set-cookie", "")


def _counts(db: Engine) -> tuple[int, int]:
    with session_scope(db, write=False) as session:
        users = session.exec(select(func.count()).select_from(User)).one()
        sessions = session.exec(select(func.count()).select_from(UserSession)).one()
    return users, sessions


async def test_a_correct_id_token_signs_in(db: Engine, api: ASGIApp, issuer: CraftedIssuer) -> None:
    # The control: the same harness with an honest token succeeds.
    async with Browser(api) as browser:
        location, _ = await _callback(browser, issuer)
        assert browser.cookie("ss_session") is not None
    assert location == f"{APP_URL}/upload"
    assert _counts(db) == (1, 1)


async def test_an_issuer_that_changes_its_key_under_the_same_id_still_signs_in(
    db: Engine, api: ASGIApp, issuer: CraftedIssuer
) -> None:
    # The first sign-in caches the issuer's keys; then the issuer restarts with a fresh key
    # under the same `kid` (as a test provider, or a careless rotation, does). The cached key
    # fails the signature: the keys are fetched once more and the honest token is taken.
    async with Browser(api) as browser:
        await _callback(browser, issuer)
    issuer.key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
    async with Browser(api) as browser:
        location, _ = await _callback(browser, issuer)
        assert browser.cookie("ss_session") is not None
    assert location == f"{APP_URL}/upload"


@pytest.mark.parametrize(
    "craft",
    [
        pytest.param(_other_key("key-1"), id="signed-by-another-key"),
        pytest.param(_other_key("key-2"), id="unknown-key-id"),
        pytest.param(_unsigned, id="alg-none"),
        pytest.param(_hmac_with_client_secret, id="hs256-with-client-secret"),
        pytest.param(_changed(iss="https://evil.example"), id="wrong-issuer"),
        pytest.param(_changed(aud="another-client"), id="wrong-audience"),
        pytest.param(_changed(nonce="not-the-nonce"), id="wrong-nonce"),
        pytest.param(_changed(nonce=None), id="no-nonce"),
        pytest.param(_changed(exp=int(time.time()) - 600), id="expired"),
        pytest.param(_changed(sub=None), id="no-subject"),
    ],
)
async def test_a_bad_id_token_is_refused(
    db: Engine,
    api: ASGIApp,
    issuer: CraftedIssuer,
    craft: Callable[[CraftedIssuer, Claims], str],
) -> None:
    issuer.craft = craft
    async with Browser(api) as browser:
        location, set_cookie = await _callback(browser, issuer)
        assert browser.cookie("ss_session") is None
    assert location == f"{APP_URL}/login?error=token_invalid"
    assert "ss_session=" not in set_cookie
    assert _counts(db) == (0, 0)


async def test_a_discovery_document_naming_another_issuer_is_not_used(
    db: Engine, api: ASGIApp, issuer: CraftedIssuer
) -> None:
    issuer.discovery_issuer = "https://evil.example"
    async with Browser(api) as browser:
        response = await browser.follow(f"{API_URL}/api/auth/oauth/oidc/start")
    assert response.status_code == 303
    assert response.headers["location"] == f"{APP_URL}/login?error=provider_unavailable"
    assert _counts(db) == (0, 0)
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(OAuthLogin)).one() == 0


def _closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()  # nothing listens there now: connecting is refused
    return port


@pytest.mark.parametrize("outage", ["unreachable", "http-503"])
async def test_an_unreachable_token_endpoint_says_the_provider_could_not_be_reached(
    db: Engine, api: ASGIApp, issuer: CraftedIssuer, outage: str
) -> None:
    if outage == "unreachable":
        issuer.token_endpoint = f"http://127.0.0.1:{_closed_port()}/token"
    else:
        issuer.token_status = 503
    async with Browser(api) as browser:
        location, set_cookie = await _callback(browser, issuer)
    assert location == f"{APP_URL}/login?error=provider_unavailable"
    assert "could not reach" in OAUTH_ERRORS["provider_unavailable"]
    assert "ss_session=" not in set_cookie
    assert _counts(db) == (0, 0)
