"""A local HTTP server that speaks GitHub's OAuth web flow and the two REST endpoints a
sign-in reads, for Authlib's client pointed at it (`GITHUB_BASE_URL`, `GITHUB_API_URL`).

- `GET /login/oauth/authorize?client_id&redirect_uri&scope&state&code_challenge&...`: the
  browser's user (`sign_in_as`) approves at once: 302 to `redirect_uri?code=..&state=..`
  (or, after `deny_next()`, `?error=access_denied&...&state=..`, as GitHub does).
- `POST /login/oauth/access_token` (form or JSON body): client credentials, a code that is
  single use, ten minutes old at most, issued for this client and `redirect_uri`, and PKCE
  checked (S256 or plain, as announced at `authorize`). Like GitHub, errors come back with
  status 200 and an `error` field; JSON when the `Accept` header asks, else form-encoded.
- `GET /user`, `GET /user/emails` with `Authorization: Bearer|token <access token>`:
  401 `Bad credentials` for an unknown token, `/user/emails` 404 without `user:email` scope.

Use the `fake_github` fixture; import it with a redundant alias so linters see it used:
`from tests.support.fake_github import fake_github as fake_github`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.server_thread import ServerThread

CLIENT_ID = "Iv1.fakegithubclient"
CLIENT_SECRET = "fake-github-client-secret"
CODE_LIFETIME_S = 600
_DOCS = "https://docs.github.com/rest"
_ERROR_DOCS = (
    "https://docs.github.com/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors"
)
_BAD_CLIENT = "The client_id and/or client_secret passed are incorrect."
_BAD_CODE = "The code passed is incorrect or expired."
_BAD_REDIRECT = "The redirect_uri MUST match the registered callback URL for this application."
# GitHub documents no wording for a failed PKCE check; its code for a refused code is this.
_BAD_VERIFIER = "The code_verifier does not match the code_challenge."


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str
    # GitHub's /user/emails entries: {"email", "primary", "verified", "visibility"}
    emails: list[dict[str, Any]] = field(default_factory=list)
    public_email: str | None = None


@dataclass(frozen=True)
class _Grant:
    login: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str
    issued_at: float


class FakeGitHub(ServerThread):
    """GitHub's OAuth app endpoints on 127.0.0.1, in a thread, with test controls."""

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self._lock = threading.Lock()
        self._users: dict[str, GitHubUser] = {}
        self._signed_in: str | None = None
        self._deny_next = False
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, tuple[str, str]] = {}  # access token -> (login, scope)
        self.token_requests: list[dict[str, str]] = []  # the parameters each exchange sent
        self._app = Starlette(
            routes=[
                Route("/login/oauth/authorize", self._authorize, methods=["GET"]),
                Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/user", self._user, methods=["GET"]),
                Route("/user/emails", self._emails, methods=["GET"]),
            ]
        )
        super().__init__(self._app, name="the fake GitHub server")

    # -- lifecycle --
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- test controls --
    def add_user(
        self, login: str, *, email: str, verified: bool = True, name: str = ""
    ) -> GitHubUser:
        """A GitHub account whose primary address is `email` (verified or not)."""
        with self._lock:
            user = GitHubUser(
                id=1000 + len(self._users),
                login=login,
                name=name or login,
                emails=[
                    {"email": email, "primary": True, "verified": verified, "visibility": None}
                ],
            )
            self._users[login] = user
            return user

    def sign_in_as(self, login: str) -> None:
        """The user signed in to github.com in the test's browser (approves at once)."""
        with self._lock:
            self._signed_in = login

    def deny_next(self) -> None:
        with self._lock:
            self._deny_next = True

    # -- HTTP --
    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return PlainTextResponse("Not Found", status_code=404)
        redirect_uri, state = q.get("redirect_uri", ""), q.get("state")
        if not redirect_uri.startswith(("http://", "https://")):
            return PlainTextResponse("The redirect_uri is not valid.", status_code=400)
        method = q.get("code_challenge_method", "plain")
        if q.get("code_challenge") and method not in ("S256", "plain"):
            return PlainTextResponse("Unsupported code_challenge_method.", status_code=400)
        with self._lock:
            login, deny = self._signed_in, self._deny_next
            self._deny_next = False
        if login is None:
            return PlainTextResponse("Sign in to GitHub to continue.", status_code=401)
        back: dict[str, str] = {}
        if deny:
            back = {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
            }
        else:
            code = secrets.token_hex(10)
            with self._lock:
                self._codes[code] = _Grant(
                    login=login,
                    redirect_uri=redirect_uri,
                    scope=q.get("scope", ""),
                    code_challenge=q.get("code_challenge"),
                    code_challenge_method=method,
                    issued_at=time.monotonic(),
                )
            back = {"code": code}
        if state is not None:
            back["state"] = state
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{sep}{urlencode(back)}", status_code=302)

    async def _access_token(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            loaded = json.loads(body or b"{}")
            params = {str(k): str(v) for k, v in loaded.items()}
        else:
            params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        with self._lock:
            self.token_requests.append(dict(params))
        as_json = "application/json" in request.headers.get("accept", "")
        if params.get("client_id") != self.client_id or not secrets.compare_digest(
            params.get("client_secret", "").encode(), self.client_secret.encode()
        ):
            return _answer(as_json, _error("incorrect_client_credentials", _BAD_CLIENT))
        with self._lock:
            grant = self._codes.pop(params.get("code", ""), None)  # single use, even on failure
        if grant is None or time.monotonic() - grant.issued_at > CODE_LIFETIME_S:
            return _answer(as_json, _error("bad_verification_code", _BAD_CODE))
        if params.get("redirect_uri", grant.redirect_uri) != grant.redirect_uri:
            return _answer(as_json, _error("redirect_uri_mismatch", _BAD_REDIRECT))
        if grant.code_challenge is not None and not _pkce_matches(
            grant, params.get("code_verifier", "")
        ):
            return _answer(as_json, _error("bad_verification_code", _BAD_VERIFIER))
        token = "gho_" + secrets.token_hex(18)
        with self._lock:
            self._tokens[token] = (grant.login, grant.scope)
        return _answer(
            as_json, {"access_token": token, "token_type": "bearer", "scope": grant.scope}
        )

    def _authenticated(self, request: Request) -> tuple[GitHubUser, str] | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        with self._lock:
            entry = self._tokens.get(token.strip())
            if entry is None:
                return None
            return self._users[entry[0]], entry[1]

    async def _user(self, request: Request) -> Response:
        auth = self._authenticated(request)
        if auth is None:
            return _bad_credentials()
        user = auth[0]
        return JSONResponse(
            {
                "login": user.login,
                "id": user.id,
                "type": "User",
                "name": user.name,
                "email": user.public_email,
            }
        )

    async def _emails(self, request: Request) -> Response:
        auth = self._authenticated(request)
        if auth is None:
            return _bad_credentials()
        user, scope = auth
        if not {"user", "user:email"} & set(scope.replace(",", " ").split()):
            return JSONResponse({"message": "Not Found", "documentation_url": _DOCS}, 404)
        return JSONResponse(user.emails)


def _pkce_matches(grant: _Grant, verifier: str) -> bool:
    if not 43 <= len(verifier) <= 128:
        return False
    if grant.code_challenge_method == "plain":
        expected = verifier
    else:
        digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return secrets.compare_digest(expected.encode(), (grant.code_challenge or "").encode())


def _error(error: str, description: str) -> dict[str, str]:
    return {
        "error": error,
        "error_description": description,
        "error_uri": _ERROR_DOCS,
    }


def _answer(as_json: bool, payload: dict[str, str]) -> Response:
    """GitHub answers the token endpoint with 200 whatever happened."""
    if as_json:
        return JSONResponse(payload)
    return PlainTextResponse(urlencode(payload), media_type="application/x-www-form-urlencoded")


def _bad_credentials() -> Response:
    return JSONResponse({"message": "Bad credentials", "documentation_url": _DOCS}, 401)


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A running fake GitHub for one test."""
    with FakeGitHub() as server:
        yield server
