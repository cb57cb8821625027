"""Every error of the REST API in one shape: RFC 9457 problem details
(`application/problem+json`) with `type`, `title`, `status`, `detail` and a stable
snake_case `code`, whether a service refused (a domain error), FastAPI refused the request
(404, 405, 422) or a limit did (413, 429 with `Retry-After`)."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from stylestudio.services.accounts.api_idempotency import IdempotencyKeyReusedError
from stylestudio.services.errors import (
    DomainError,
    ForbiddenError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    ValidationError,
)

PROBLEM_JSON = "application/problem+json"
DOCS_PATH = "/api/v1/docs"
log = logging.getLogger(__name__)

# Each code and what it means, for the reference page (and the `type` URI's anchor there).
CODES: dict[str, str] = {
    "unauthorized": "No API key, or one that is malformed, revoked or of a suspended account.",
    "insufficient_scope": "The API key lacks the scope this operation needs.",
    "not_found": "No such resource among yours (another user's ids look missing too).",
    "method_not_allowed": "The path exists, the method does not.",
    "invalid_request": "The request does not match the schema; `errors` says where.",
    "validation_error": "A value the service refused; `detail` says which and why.",
    "invalid_image": "The upload is not a JPEG, PNG, WebP or HEIC photo it can use.",
    "invalid_cursor": "The `cursor` is not one this API handed out.",
    "idempotency_key_reused": "The Idempotency-Key was first sent with another request.",
    "insufficient_credits": "The balance does not cover the cost (409: the account's state).",
    "conflict": "The resource's state forbids it (e.g. cancelling a finished generation).",
    "payload_too_large": "The body is larger than the operation accepts.",
    "rate_limited": "Too many requests; retry after `Retry-After` seconds.",
    "internal_error": "Something failed on our side; nothing was charged twice.",
}


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str = Field(description="A URI reference naming the kind of problem")
    title: str = Field(description="The HTTP status phrase")
    status: int
    detail: str = Field(description="What went wrong, for a person")
    code: str = Field(description="A stable snake_case code (see the reference page)")


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body = {
        "type": f"{DOCS_PATH}#problem-{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }
    return Response(
        json.dumps(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def unauthorized(detail: str, *, presented: bool) -> Response:
    """401 with the challenge RFC 6750 asks for (`invalid_token` when a key was sent)."""
    challenge = 'Bearer realm="stylestudio"' + (', error="invalid_token"' if presented else "")
    return problem(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})


class MissingCredentials(UnauthorizedError):
    """No key was sent at all (the challenge then names no error, RFC 6750 §3.1)."""


def domain_problem(exc: DomainError) -> Response:
    """A service's refusal as the status its RFC means."""
    if isinstance(exc, UnauthorizedError):
        return unauthorized(exc.message, presented=not isinstance(exc, MissingCredentials))
    if isinstance(exc, ForbiddenError):
        return problem(
            403,
            "insufficient_scope",
            exc.message,
            headers={"WWW-Authenticate": 'Bearer realm="stylestudio", error="insufficient_scope"'},
        )
    if isinstance(exc, NotFoundError):
        return problem(404, "not_found", exc.message)
    if isinstance(exc, RateLimitedError):
        return problem(
            429, "rate_limited", exc.message, headers={"Retry-After": str(exc.retry_after_s)}
        )
    if isinstance(exc, InsufficientCreditsError):
        # RFC 9110 keeps 402 "reserved for future use"; the balance is the account's current
        # state, which the request conflicts with: 409.
        return problem(
            409,
            "insufficient_credits",
            exc.message,
            extra={"required": exc.required, "available": exc.available},
        )
    if isinstance(exc, IdempotencyConflictError):
        return problem(409, "conflict", exc.message)
    if isinstance(exc, IdempotencyKeyReusedError):
        # The request conflicts with the one the key first named (the IETF draft's 422 is
        # for a malformed key; a reused one is a conflict, as Stripe answers it too).
        return problem(409, "idempotency_key_reused", exc.message)
    if isinstance(exc, ValidationError):
        # validation_error, invalid_image, invalid_cursor
        return problem(422, exc.code.lower(), exc.message)
    return problem(400, exc.code.lower(), exc.message)


class ConflictError(DomainError):
    """The resource's current state forbids the operation (409)."""

    code = "CONFLICT"


class PayloadTooLargeError(DomainError):
    """The body is larger than the operation takes (413)."""

    code = "PAYLOAD_TOO_LARGE"


def install_handlers(app: FastAPI) -> None:
    async def on_domain_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        if isinstance(exc, ConflictError):
            return problem(409, "conflict", exc.message)
        if isinstance(exc, PayloadTooLargeError):
            return problem(413, "payload_too_large", exc.message)
        return domain_problem(exc)

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is no such operation; see /api/v1/docs."
        return problem(exc.status_code, code, detail, headers=dict(exc.headers or {}))

    async def on_invalid_request(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "loc": [str(part) for part in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(first["loc"]) or "request"
        return problem(
            422,
            "invalid_request",
            f"{where}: {first['msg']}",
            extra={"errors": errors},
        )

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        log.error("REST API request failed", exc_info=exc)
        return problem(500, "internal_error", "Something went wrong on our side. Try again.")

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(Exception, on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for problem answers."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def linked(
    status: int, description: str, links: dict[str, dict[str, Any]]
) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI `responses` entry that says which operations the answer's ids feed (links:
    what a client, and schemathesis' stateful tests, follow from one call to the next)."""
    return {status: {"description": description, "links": links}}
