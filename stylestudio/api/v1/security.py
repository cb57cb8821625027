"""Who a REST API request acts for: `Authorization: Bearer ss_live_…`, checked against the
database on every request (a revoked key or a suspended account stops at once), counted
against the key's rate limit, and the scope each operation needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from stylestudio.api.v1.problems import MissingCredentials
from stylestudio.db import get_engine
from stylestudio.services.accounts.api_keys import ApiPrincipal, authenticate_api_request
from stylestudio.services.rate_limits import get_limiter
from stylestudio.settings import get_settings

MISSING = "Send an API key: `Authorization: Bearer ss_live_…` (create one on your account page)."

# Documents the scheme in the OpenAPI document; the check itself is `principal` below, so
# that a missing key is a 401 problem (HTTPBearer alone answers 403 without a challenge).
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key (`ss_live_…`) from the Developers section of your account page.",
)


def client_address(request: Request) -> str | None:
    """The client's address as the rest of api/ derives it (trusted proxy hops)."""
    return get_settings().client_address(
        request.client.host if request.client else None, request.headers.get("x-forwarded-for")
    )


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> ApiPrincipal:
    """The request's principal, or 401; then one request counted against the key (429)."""
    if credentials is None or not credentials.credentials:
        raise MissingCredentials(MISSING)
    address = client_address(request)
    who = authenticate_api_request(get_engine(), credentials.credentials.strip(), address=address)
    get_limiter().api_request(key_id=who.key_id)
    return who


def scoped(scope: str) -> Callable[..., ApiPrincipal]:
    """A dependency: the principal, if its key has `scope` (else 403)."""

    def dependency(who: Annotated[ApiPrincipal, Depends(principal)]) -> ApiPrincipal:
        who.require(scope)
        return who

    dependency.__name__ = f"scope_{scope.replace(':', '_')}"
    return dependency
