"""Sign-in providers: OpenID Connect issuers (Google, or any issuer by its discovery document)
and GitHub's OAuth 2 web flow, both through Authlib's httpx client.

Every provider runs the authorization code flow with `state` and PKCE (S256); OpenID
Connect adds a `nonce`, and its ID token is checked against the issuer's JWKS (signature,
issuer, audience, expiry, nonce, `at_hash`) with joserfc and Authlib's `CodeIDToken`, as
Authlib's own framework clients do. What a provider answers becomes a `ProviderIdentity`;
what to do with it is the business of `services.accounts.oauth_accounts`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from stylestudio.settings import GOOGLE_DISCOVERY_URL, Settings

HTTP_TIMEOUT_S = 10.0
METADATA_TTL_S = 3600.0  # discovery documents and key sets; an unknown key id refetches
ID_TOKEN_LEEWAY_S = 60  # clock skew allowed on exp/iat
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")  # Google sends both
_GITHUB_API_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
}


class OAuthProviderError(Exception):
    """The provider could not be used (unreachable, or an invalid discovery document).
    `code` names the message shown to the user; `reason` is for the log only."""

    code = "provider_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CodeExchangeError(OAuthProviderError):
    """The token endpoint refused the code (unknown, used, expired, wrong PKCE verifier)."""

    code = "exchange_failed"


class IdTokenError(OAuthProviderError):
    """The ID token is missing or fails validation (signature, iss, aud, exp, nonce)."""

    code = "token_invalid"


@dataclass(frozen=True)
class ProviderIdentity:
    """Who the provider says signed in. `email_verified` is the provider's word only."""

    subject: str
    email: str | None
    email_verified: bool
    name: str = ""


class OAuthProvider(Protocol):
    key: str
    label: str

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str: ...

    async def fetch_identity(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> ProviderIdentity: ...


@dataclass(frozen=True)
class OIDCConfig:
    key: str
    label: str
    client_id: str
    client_secret: str
    discovery_url: str
    # The issuer the discovery document must name; None trusts the document's own.
    issuer: str | None = None
    issuer_aliases: tuple[str, ...] = ()  # other spellings accepted in the ID token's iss
    scope: str = "openid email profile"


@dataclass(frozen=True)
class GitHubConfig:
    client_id: str
    client_secret: str
    base_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    key: str = "github"
    label: str = "GitHub"
    scope: str = "read:user user:email"


ProviderConfig = OIDCConfig | GitHubConfig


def provider_configs(settings: Settings) -> list[ProviderConfig]:
    """The providers with a client id and secret set, in the order their buttons show."""
    configs: list[ProviderConfig] = []
    if settings.google_client_id and settings.google_client_secret:
        official = settings.google_discovery_url == GOOGLE_DISCOVERY_URL
        configs.append(
            OIDCConfig(
                key="google",
                label="Google",
                client_id=settings.google_client_id,
                client_secret=settings.google_client_secret,
                discovery_url=settings.google_discovery_url,
                issuer=GOOGLE_ISSUERS[0] if official else None,
                issuer_aliases=GOOGLE_ISSUERS[1:] if official else (),
            )
        )
    if settings.github_client_id and settings.github_client_secret:
        configs.append(
            GitHubConfig(
                client_id=settings.github_client_id,
                client_secret=settings.github_client_secret,
                base_url=settings.github_base_url.rstrip("/"),
                api_url=settings.github_api_url.rstrip("/"),
            )
        )
    issuer = settings.oidc_issuer_url.strip().rstrip("/")
    if issuer and settings.oidc_client_id and settings.oidc_client_secret:
        configs.append(
            OIDCConfig(
                key="oidc",
                label=settings.oidc_name.strip() or "Single sign-on",
                client_id=settings.oidc_client_id,
                client_secret=settings.oidc_client_secret,
                discovery_url=f"{issuer}/.well-known/openid-configuration",
                issuer=issuer,
            )
        )
    return configs


def find_provider(settings: Settings, key: str) -> OAuthProvider | None:
    """The configured provider called `key`, or None."""
    for config in provider_configs(settings):
        if config.key == key:
            return build_provider(config)
    return None


@lru_cache(maxsize=32)
def build_provider(config: ProviderConfig) -> OAuthProvider:
    """One client per configuration, so discovery documents and keys are cached."""
    if isinstance(config, GitHubConfig):
        return GitHubProvider(config)
    return OIDCProvider(config)


class OIDCProvider:
    """An OpenID Connect issuer, configured from its discovery document."""

    def __init__(self, config: OIDCConfig) -> None:
        self.config = config
        self.key = config.key
        self.label = config.label
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        metadata = await self.metadata()
        async with self._client(metadata) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
                redirect_uri=redirect_uri,
            )
        return str(url)

    async def fetch_identity(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> ProviderIdentity:
        if not nonce:
            raise IdTokenError("no nonce was stored for this sign-in")
        metadata = await self.metadata()
        async with self._client(metadata) as client:
            token = await _exchange_code(
                client, metadata["token_endpoint"], code, redirect_uri, code_verifier
            )
            id_token = token.get("id_token")
            if not isinstance(id_token, str):
                raise IdTokenError("the token response has no id_token")
            claims = await self._verified_claims(
                id_token, metadata, nonce=nonce, access_token=token.get("access_token")
            )
            if "email" not in claims and metadata.get("userinfo_endpoint"):
                claims = {**(await _userinfo(client, metadata, claims["sub"])), **claims}
        email = claims.get("email")
        return ProviderIdentity(
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) and email else None,
            # Some issuers send the string "true"; anything else is not a verification.
            email_verified=claims.get("email_verified") in (True, "true"),
            name=str(claims.get("name") or ""),
        )

    async def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document (cached), validated with Authlib."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL_S:
            return self._metadata
        data = await _get_json(self.config.discovery_url)
        try:
            OpenIDProviderMetadata(data).validate()
        except (ValueError, TypeError, KeyError) as exc:
            raise OAuthProviderError(f"{self.config.discovery_url}: {exc}") from exc
        expected = self.config.issuer
        if expected is not None and str(data["issuer"]).rstrip("/") != expected.rstrip("/"):
            raise OAuthProviderError(
                f"{self.config.discovery_url} names issuer {data['issuer']!r}, not {expected!r}"
            )
        self._metadata, self._metadata_at, self._jwks = dict(data), time.monotonic(), None
        return self._metadata

    def _client(self, metadata: dict[str, Any]) -> AsyncOAuth2Client:
        methods = metadata.get("token_endpoint_auth_methods_supported") or []
        # client_secret_basic is the default when the issuer lists none (OIDC Discovery).
        post_only = "client_secret_post" in methods and "client_secret_basic" not in methods
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scope,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_post" if post_only else None,
            timeout=HTTP_TIMEOUT_S,
        )

    async def _key_set(self, metadata: dict[str, Any], *, refresh: bool) -> KeySet:
        if self._jwks is None or refresh:
            self._jwks = await _get_json(metadata["jwks_uri"])
        try:
            return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OAuthProviderError(f"unusable key set at {metadata['jwks_uri']}: {exc}") from exc

    async def _verified_claims(
        self, id_token: str, metadata: dict[str, Any], *, nonce: str, access_token: object
    ) -> dict[str, Any]:
        algorithms = [
            alg
            for alg in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
            if alg != "none" and not alg.startswith("HS")  # keys come from the JWKS only
        ]
        try:
            fresh = self._jwks is None
            try:
                keys = await self._key_set(metadata, refresh=False)
                decoded = jwt.decode(id_token, keys, algorithms=algorithms)
            except (InvalidKeyIdError, BadSignatureError):
                # The issuer rotated its keys since we fetched them: a new key id, or new key
                # material under the old id (an issuer that restarted with a fresh key). The
                # token came from its token endpoint, not from the browser: fetch once more.
                if fresh:
                    raise
                keys = await self._key_set(metadata, refresh=True)
                decoded = jwt.decode(id_token, keys, algorithms=algorithms)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {
                        "essential": True,
                        "values": [metadata["issuer"], *self.config.issuer_aliases],
                    },
                    "aud": {"essential": True, "values": [self.config.client_id]},
                    "sub": {"essential": True},
                },
                {
                    "nonce": nonce,
                    "client_id": self.config.client_id,
                    "access_token": access_token if isinstance(access_token, str) else None,
                },
            )
            claims.validate(leeway=ID_TOKEN_LEEWAY_S)
        except (JoseError, ValueError, TypeError) as exc:
            raise IdTokenError(f"ID token refused: {type(exc).__name__}: {exc}") from exc
        return dict(claims)


class GitHubProvider:
    """GitHub's OAuth 2 web flow (not OpenID Connect): the user's numeric id is the subject,
    and the email is the primary one from `GET /user/emails`."""

    def __init__(self, config: GitHubConfig) -> None:
        self.config = config
        self.key = config.key
        self.label = config.label

    async def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                f"{self.config.base_url}/login/oauth/authorize",
                state=state,
                code_verifier=code_verifier,
                redirect_uri=redirect_uri,
                allow_signup="true",
            )
        return str(url)

    async def fetch_identity(
        self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str
    ) -> ProviderIdentity:
        async with self._client() as client:
            await _exchange_code(
                client,
                f"{self.config.base_url}/login/oauth/access_token",
                code,
                redirect_uri,
                code_verifier,
            )
            user = await _api_get(client, f"{self.config.api_url}/user", _GITHUB_API_HEADERS)
            emails = await _api_get(
                client, f"{self.config.api_url}/user/emails", _GITHUB_API_HEADERS
            )
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            raise OAuthProviderError("GitHub's /user has no numeric id")
        primary = _primary_email(emails)
        if primary is not None:
            email, verified = primary["email"], primary.get("verified") is True
        else:  # no address list: the public profile address, which GitHub does not vouch for
            email, verified = user.get("email") or None, False
        return ProviderIdentity(
            subject=str(user["id"]),
            email=email if isinstance(email, str) else None,
            email_verified=verified,
            name=str(user.get("name") or user.get("login") or ""),
        )

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scope,
            code_challenge_method="S256",
            # GitHub reads the client credentials from the form body.
            token_endpoint_auth_method="client_secret_post",
            timeout=HTTP_TIMEOUT_S,
        )


async def _exchange_code(
    client: AsyncOAuth2Client, url: str, code: str, redirect_uri: str, code_verifier: str
) -> dict[str, Any]:
    """The token response for `code`, or CodeExchangeError when the provider refused it
    (GitHub answers errors with status 200 and an `error` field; Authlib's client raises on
    those too), or OAuthProviderError ("could not reach the provider") when the token
    endpoint could not be reached or answered 5xx/429."""
    try:
        token = await client.fetch_token(
            url,
            grant_type="authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
        )
    except OAuthError as exc:
        raise CodeExchangeError(f"{url}: {exc.error}: {exc.description}") from exc
    except httpx.TransportError as exc:  # unreachable, refused, timed out: not a refusal
        raise OAuthProviderError(f"{url}: {type(exc).__name__}: {exc}") from exc
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code >= 500 or exc.response.status_code == 429:
            raise OAuthProviderError(f"{url}: HTTP {exc.response.status_code}") from exc
        raise CodeExchangeError(f"{url}: HTTP {exc.response.status_code}") from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise CodeExchangeError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(token.get("access_token"), str):
        raise CodeExchangeError(f"{url}: the token response has no access_token")
    return dict(token)


async def _userinfo(
    client: AsyncOAuth2Client, metadata: dict[str, Any], subject: object
) -> dict[str, Any]:
    """The userinfo claims, used only when they are about the ID token's subject."""
    info = await _api_get(client, metadata["userinfo_endpoint"])
    if not isinstance(info, dict) or info.get("sub") != subject:
        raise IdTokenError("userinfo is about another subject than the ID token")
    return info


def _primary_email(emails: object) -> dict[str, Any] | None:
    """The entry of GitHub's `/user/emails` marked primary, if it has an address."""
    if not isinstance(emails, list):
        return None
    for entry in emails:
        if isinstance(entry, dict) and entry.get("primary") and isinstance(entry.get("email"), str):
            return entry
    return None


async def _api_get(
    client: AsyncOAuth2Client, url: str, headers: dict[str, str] | None = None
) -> Any:
    try:
        response = await client.get(url, headers=headers or {"Accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except (OAuthError, httpx.HTTPError, ValueError) as exc:
        raise OAuthProviderError(f"GET {url}: {type(exc).__name__}: {exc}") from exc


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OAuthProviderError(f"GET {url}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(data, dict):
        raise OAuthProviderError(f"GET {url}: not a JSON object")
    return data
