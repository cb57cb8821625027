"""The REST API at /api/v1, through the whole backend's routes (api/routes.py::build_api) with
an ASGI client, on SQLite and PostgreSQL: API keys and scopes, problem details, credits and
their ledger, uploads, generations started (idempotently), polled, cancelled and deleted,
and the OpenAPI document with its reference page."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from stylestudio import runtime
from stylestudio.api.request_context import request_context
from stylestudio.api.routes import build_api
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import (
    ApiIdempotencyKey,
    CreditLedgerEntry,
    Generation,
    LedgerKind,
    User,
    utcnow,
)
from stylestudio.services.accounts import account_self_service, api_idempotency, api_keys
from stylestudio.services.billing import credits
from stylestudio.services.rate_limits import get_limiter
from stylestudio.settings import get_settings
from tests.support.builders import grant_credits, new_user, product_shot, run_all_jobs, set_balance
from tests.support.databases import writes_through

PROBLEM = "application/problem+json"


class Api:
    """A sync client over httpx's ASGI transport (one event loop per call, so threads can
    call it at once)."""

    def __init__(self, app: Any) -> None:
        self.transport = httpx.ASGITransport(app=app)

    def request(self, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url="http://testserver"
            ) as client:
                return await client.request(method, path, headers=headers, **kw)

        return asyncio.run(send())

    def get(self, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("GET", path, key, **kw)

    def post(self, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, key, **kw)

    def delete(self, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, key, **kw)


def _configure(monkeypatch: pytest.MonkeyPatch, db: Engine, tmp_path: Path, **env: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STYLESTUDIO_API_URL", "http://testserver")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_limiter.cache_clear()
    runtime.reset()


@pytest.fixture
def api(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    _configure(monkeypatch, db, tmp_path)
    try:
        yield Api(build_api())
    finally:
        dispose_engines()
        get_settings.cache_clear()
        get_limiter.cache_clear()
        runtime.reset()


def _key(db: Engine, user_id: int, *scopes: str) -> str:
    with session_scope(db) as session:
        return api_keys.create_api_key(
            session, user_id=user_id, name="script", scopes=list(scopes or api_keys.SCOPES)
        ).secret


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["title"] and body["detail"] and body["type"].endswith(f"#problem-{code}")
    return body


def _upload(api: Api, key: str, role: str = "product") -> dict[str, Any]:
    response = api.post(
        "/api/v1/uploads",
        key,
        files={"file": ("shoe.jpg", product_shot(), "image/jpeg")},
        data={"role": role},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _fund(db: Engine, user_id: int, amount: int = 100) -> None:
    """Top the user's balance up to `amount` (an adjustment, not a spend)."""
    with session_scope(db) as session:
        short = amount - credits.balance(session, user_id=user_id)
        if short > 0:
            credits.grant(
                session,
                user_id=user_id,
                amount=short,
                idempotency_key=f"fund:{user_id}:{amount}:{short}",
                kind=LedgerKind.ADJUSTMENT,
            )


def _balance(db: Engine, user_id: int) -> int:
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.credits


def _spends(db: Engine, user_id: int) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(
            select(func.count())
            .select_from(CreditLedgerEntry)
            .where(CreditLedgerEntry.user_id == user_id, CreditLedgerEntry.kind == LedgerKind.SPEND)
        ).one()


def _generations(db: Engine, user_id: int) -> int:
    with session_scope(db, write=False) as session:
        return session.exec(
            select(func.count()).select_from(Generation).where(Generation.user_id == user_id)
        ).one()


# --------------------------------------------------------------------------- auth


def test_no_bad_revoked_or_suspended_keys_get_a_401_problem_with_a_bearer_challenge(
    api: Api, db: Engine
) -> None:
    user_id = new_user(db)
    missing = _problem(api.get("/api/v1/credits"), 401, "unauthorized")
    assert "Authorization: Bearer" in missing["detail"]
    assert api.get("/api/v1/credits").headers["www-authenticate"].startswith("Bearer")
    for bad in ("nonsense", "ss_live_" + "x" * 43):
        response = api.get("/api/v1/credits", bad)
        _problem(response, 401, "unauthorized")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
    revoked = _key(db, user_id)
    assert api.get("/api/v1/credits", revoked).status_code == 200
    with session_scope(db) as session:
        [view] = api_keys.list_api_keys(session, user_id=user_id)
        api_keys.revoke_api_key(session, user_id=user_id, key_id=view.id)
    _problem(api.get("/api/v1/credits", revoked), 401, "unauthorized")
    other = new_user(db, "gone@example.com")
    gone_key = _key(db, other)
    with session_scope(db) as session:
        account_self_service.delete_account(
            session, user_id=other, confirm_email="gone@example.com"
        )
    _problem(api.get("/api/v1/credits", gone_key), 401, "unauthorized")


def test_requests_with_a_key_used_within_the_minute_write_nothing(api: Api, db: Engine) -> None:
    """A request's key is checked in a read: on SQLite, API requests that write nothing do
    not queue for the one write lock."""
    key = _key(db, new_user(db))
    assert api.get("/api/v1/credits", key).status_code == 200  # first use: recorded
    with writes_through(sa.engine.Engine) as writes:  # every engine (the app has its own)
        for path in ("/api/v1/credits", "/api/v1/generations", "/api/v1/credits/ledger"):
            assert api.get(path, key).status_code == 200
    assert writes == []


def test_the_key_never_reaches_a_log_line(
    api: Api, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = new_user(db)
    key = _key(db, user_id)
    logged = Api(request_context(build_api()))  # with the access lines the backend writes
    with caplog.at_level(logging.DEBUG):
        assert logged.get("/api/v1/credits", key).status_code == 200
        assert logged.get("/api/v1/generations/99", key).status_code == 404
        assert logged.get("/api/v1/credits", key[:-1] + "x").status_code == 401
    assert "/api/v1/credits" in caplog.text  # the access lines were captured
    assert key[len(api_keys.KEY_MARK) :] not in caplog.text
    assert key[len(api_keys.KEY_MARK) : -1] not in caplog.text


def test_a_key_without_the_scope_gets_a_403_problem(api: Api, db: Engine) -> None:
    key = _key(db, new_user(db), "read")
    response = api.get("/api/v1/credits", key)
    body = _problem(response, 403, "insufficient_scope")
    assert "credits:read" in body["detail"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    _problem(
        api.post("/api/v1/generations", key, json={"products": [1], "styles": ["realistic"]}),
        403,
        "insufficient_scope",
    )
    assert api.get("/api/v1/generations", key).status_code == 200


def test_unknown_paths_wrong_methods_and_invalid_bodies_are_problems(api: Api, db: Engine) -> None:
    key = _key(db, new_user(db))
    _problem(api.get("/api/v1/nowhere", key), 404, "not_found")
    _problem(api.request("PUT", "/api/v1/credits", key), 405, "method_not_allowed")
    body = _problem(
        api.post("/api/v1/generations", key, json={"products": [], "styles": "x"}),
        422,
        "invalid_request",
    )
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "products"), ("body", "styles")}
    _problem(api.get("/api/v1/generations/0", key), 422, "invalid_request")
    _problem(api.get("/api/v1/credits/ledger?cursor=bm9wZQ", key), 422, "invalid_cursor")
    _problem(
        api.post(
            "/api/v1/generations",
            key,
            content=b"{" + b" " * 70_000 + b"}",
            headers={"content-type": "application/json"},
        ),
        413,
        "payload_too_large",
    )


def test_each_key_has_a_rate_limit_answered_with_retry_after(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(monkeypatch, db, tmp_path, STYLESTUDIO_LIMIT_API_KEY="3/minute")
    try:
        api = Api(build_api())
        user_id = new_user(db)
        first, second = _key(db, user_id), _key(db, user_id)
        assert [api.get("/api/v1/credits", first).status_code for _ in range(3)] == [200] * 3
        limited = api.get("/api/v1/credits", first)
        _problem(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert api.get("/api/v1/credits", second).status_code == 200  # per key
    finally:
        dispose_engines()
        get_settings.cache_clear()
        get_limiter.cache_clear()
        runtime.reset()


# --------------------------------------------------------------------------- credits


def test_balance_and_ledger_in_keyset_pages(api: Api, db: Engine) -> None:
    user_id = new_user(db)
    for n in range(5):
        grant_credits(db, user_id, n + 1, key=f"gift-{n}")
    key = _key(db, user_id, "credits:read")
    assert api.get("/api/v1/credits", key).json() == {"credits": _balance(db, user_id)}
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/credits/ledger", key, params=params).json()
        pages += 1
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        grant_credits(db, user_id, 100, key=f"meanwhile-{pages}")  # newer rows never shift pages
    with session_scope(db, write=False) as session:
        ids = session.exec(
            select(CreditLedgerEntry.id)
            .where(CreditLedgerEntry.user_id == user_id, col(CreditLedgerEntry.amount) < 100)
            .order_by(col(CreditLedgerEntry.id).desc())
        ).all()
    assert [line["id"] for line in seen] == list(ids)
    assert len(ids) == 6 and pages == 3  # the trial grant and five gifts, two a page
    assert seen[0]["amount"] == 5 and seen[0]["kind"] == "grant"


# --------------------------------------------------------------------------- uploads


def test_uploads_are_checked_and_stored_as_the_studio_stores_them(api: Api, db: Engine) -> None:
    key = _key(db, new_user(db), "library:write")
    product = _upload(api, key)
    assert product["role"] == "product" and (product["width"], product["height"]) == (480, 360)
    assert _upload(api, key, "scene")["role"] == "scene"
    not_image = api.post(
        "/api/v1/uploads", key, files={"file": ("x.jpg", b"not a photo", "image/jpeg")}
    )
    _problem(not_image, 422, "invalid_image")
    _problem(api.post("/api/v1/uploads", key), 422, "invalid_request")
    too_big = b"\xff" * (10 * 1024 * 1024 + 1)
    _problem(
        api.post("/api/v1/uploads", key, files={"file": ("big.jpg", too_big, "image/jpeg")}),
        413,
        "payload_too_large",
    )


# --------------------------------------------------------------------------- generations


def test_upload_generate_poll_to_completed_and_fetch_the_signed_image(api: Api, db: Engine) -> None:
    user_id = new_user(db)
    _fund(db, user_id)
    key = _key(db, user_id)
    product = _upload(api, key)
    started = api.post(
        "/api/v1/generations",
        key,
        json={"products": [product["id"]], "styles": ["realistic", "fashion"], "seed": 7},
    )
    assert started.status_code == 201, started.text
    batch = started.json()
    assert len(batch["generations"]) == 2 and batch["cost"] > 0
    assert _balance(db, user_id) == 100 - batch["cost"]
    gid = batch["generations"][0]["id"]
    assert api.get(f"/api/v1/generations/{gid}", key).json()["finished"] is False
    run_all_jobs(db, runtime.get_storage())
    done = api.get(f"/api/v1/generations/{gid}", key).json()
    assert done["status"] == "completed" and done["finished"] and done["seed"] == 7
    # What was asked for comes back as it was asked (the key), the page's name beside it.
    assert (done["style"], done["quality"]) == ("realistic", "standard")
    assert done["style_label"] != "realistic"
    [image] = done["images"]
    url = httpx.URL(image["url"])
    fetched = api.get(url.raw_path.decode())
    assert fetched.status_code == 200 and fetched.content[:2] == b"\xff\xd8"
    assert api.get(url.path).status_code == 403  # the signature is what opens it
    page = api.get("/api/v1/generations", key, params={"status": "completed", "limit": 1}).json()
    assert len(page["data"]) == 1 and page["next_cursor"]
    rest = api.get("/api/v1/generations", key, params={"cursor": page["next_cursor"]}).json()
    assert [g["id"] for g in page["data"] + rest["data"]] == sorted(
        (g["id"] for g in batch["generations"]), reverse=True
    )
    assert rest["next_cursor"] is None
    assert api.delete(f"/api/v1/generations/{gid}", key).status_code == 204
    _problem(api.get(f"/api/v1/generations/{gid}", key), 404, "not_found")


def test_a_retried_request_with_its_idempotency_key_is_charged_once(api: Api, db: Engine) -> None:
    user_id = new_user(db)
    _fund(db, user_id)
    key = _key(db, user_id)
    body = {"products": [_upload(api, key)["id"]], "styles": ["realistic"]}
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/api/v1/generations", key, json=body, headers=headers)
    again = api.post("/api/v1/generations", key, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert _balance(db, user_id) == 100 - first.json()["cost"]
    assert _spends(db, user_id) == 1 and _generations(db, user_id) == 1
    other_body = {**body, "styles": ["fashion"]}
    reused = api.post("/api/v1/generations", key, json=other_body, headers=headers)
    _problem(reused, 409, "idempotency_key_reused")
    assert _spends(db, user_id) == 1 and _generations(db, user_id) == 1
    # Another user's same key is another request altogether.
    other = new_user(db, "other@example.com")
    _fund(db, other)
    other_key = _key(db, other)
    theirs = {"products": [_upload(api, other_key)["id"]], "styles": ["realistic"]}
    assert (
        api.post("/api/v1/generations", other_key, json=theirs, headers=headers).status_code == 201
    )


def test_concurrent_duplicates_start_one_batch_and_charge_once(
    api: Api, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Twenty sends of one request at once: what is under test is that they start one batch
    # and charge once, not the per-user generation limit (which would refuse some of them).
    monkeypatch.setattr(get_limiter(), "enabled", False)
    user_id = new_user(db)
    _fund(db, user_id)
    key = _key(db, user_id)
    body = {"products": [_upload(api, key)["id"]], "styles": ["realistic", "vintage"]}
    barrier = threading.Barrier(20)
    answers: list[httpx.Response] = []

    def send() -> None:
        barrier.wait()
        answers.append(
            api.post("/api/v1/generations", key, json=body, headers={"Idempotency-Key": "k-1"})
        )

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    assert len({str(a.json()) for a in answers}) == 1
    cost = answers[0].json()["cost"]
    assert _balance(db, user_id) == 100 - cost
    assert _spends(db, user_id) == 2 and _generations(db, user_id) == 2
    with session_scope(db, write=False) as session:
        assert session.exec(select(func.count()).select_from(ApiIdempotencyKey)).one() == 1


def test_insufficient_credits_is_a_409_and_spends_nothing(api: Api, db: Engine) -> None:
    user_id = new_user(db)
    set_balance(db, user_id, 1)
    key = _key(db, user_id)
    body = {"products": [_upload(api, key)["id"]], "styles": ["realistic", "fashion"]}
    refused = api.post("/api/v1/generations", key, json=body, headers={"Idempotency-Key": "a"})
    problem = _problem(refused, 409, "insufficient_credits")
    assert problem["available"] == 1 and problem["required"] > 1
    assert _balance(db, user_id) == 1 and _generations(db, user_id) == 0
    _fund(db, user_id)  # a refusal is not kept: the retry runs once paid for
    retried = api.post("/api/v1/generations", key, json=body, headers={"Idempotency-Key": "a"})
    assert retried.status_code == 201


def test_the_service_validates_what_the_studio_validates(api: Api, db: Engine) -> None:
    user_id = new_user(db)
    _fund(db, user_id)
    key = _key(db, user_id)
    product = _upload(api, key)["id"]
    scene = _upload(api, key, "scene")["id"]
    cases: list[dict[str, Any]] = [
        {"products": [product], "styles": ["no-such-style"]},
        {"products": [product], "styles": ["realistic", "realistic"]},
        {"products": [scene], "styles": ["realistic"]},
        {"products": [product], "scene": product, "styles": ["realistic"]},
        {"products": [product], "styles": ["realistic"], "prompt": "x" * 1001},
        {"products": [product], "styles": ["realistic"], "prompt": "nul\x00"},
    ]
    for case in cases:
        _problem(api.post("/api/v1/generations", key, json=case), 422, "validation_error")
    assert _balance(db, user_id) == 100 and _generations(db, user_id) == 0


def test_another_users_ids_are_not_found_on_every_operation(api: Api, db: Engine) -> None:
    owner = new_user(db)
    _fund(db, owner)
    owner_key = _key(db, owner)
    product = _upload(api, owner_key)["id"]
    started = api.post(
        "/api/v1/generations", owner_key, json={"products": [product], "styles": ["realistic"]}
    ).json()
    gid = started["generations"][0]["id"]
    intruder = new_user(db, "intruder@example.com")
    _fund(db, intruder)
    key = _key(db, intruder)
    _problem(api.get(f"/api/v1/generations/{gid}", key), 404, "not_found")
    _problem(api.post(f"/api/v1/generations/{gid}/cancel", key), 404, "not_found")
    _problem(api.delete(f"/api/v1/generations/{gid}", key), 404, "not_found")
    borrowed = {"products": [product], "styles": ["realistic"]}
    _problem(api.post("/api/v1/generations", key, json=borrowed), 404, "not_found")
    assert api.get("/api/v1/generations", key).json()["data"] == []
    assert _balance(db, intruder) == 100


def test_cancel_refunds_once_and_a_finished_generation_conflicts(api: Api, db: Engine) -> None:
    user_id = new_user(db)
    _fund(db, user_id)
    key = _key(db, user_id)
    product = _upload(api, key)["id"]
    batch = api.post(
        "/api/v1/generations", key, json={"products": [product], "styles": ["realistic"]}
    ).json()
    gid = batch["generations"][0]["id"]
    _problem(api.delete(f"/api/v1/generations/{gid}", key), 409, "conflict")  # still queued
    cancelled = api.post(f"/api/v1/generations/{gid}/cancel", key)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _balance(db, user_id) == 100
    _problem(api.post(f"/api/v1/generations/{gid}/cancel", key), 409, "conflict")
    assert _balance(db, user_id) == 100
    with session_scope(db, write=False) as session:
        refunds = session.exec(
            select(func.count())
            .select_from(CreditLedgerEntry)
            .where(CreditLedgerEntry.kind == LedgerKind.REFUND)
        ).one()
    assert refunds == 1


# --------------------------------------------------------------------------- the document


def test_the_openapi_document_is_3_1_with_every_operation_and_bearer_auth(api: Api) -> None:
    doc = api.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1.")
    assert doc["servers"] == [{"url": "/api/v1"}]
    operations = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert operations == {
        ("GET", "/credits"),
        ("GET", "/credits/ledger"),
        ("POST", "/uploads"),
        ("POST", "/generations"),
        ("GET", "/generations"),
        ("GET", "/generations/{generation_id}"),
        ("POST", "/generations/{generation_id}/cancel"),
        ("DELETE", "/generations/{generation_id}"),
    }
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for item in doc["paths"].values():
        for op in item.values():
            assert op["security"] == [{"ApiKey": []}]
            assert op["x-required-scope"] in api_keys.SCOPES
            assert PROBLEM in op["responses"]["401"]["content"]


def test_the_reference_page_lists_every_operation_without_scripts(api: Api) -> None:
    page = api.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html.lower()
    for op_id in (
        "getCredits",
        "listLedgerEntries",
        "createUpload",
        "createGenerations",
        "listGenerations",
        "getGeneration",
        "cancelGeneration",
        "deleteGeneration",
    ):
        assert f"id='{op_id}'" in html
    assert "Idempotency-Key" in html and "id='problem-insufficient_credits'" in html
    assert "<code>credits:read</code> scope" in html
    assert "id='schema-GenerationRequest'" in html


def test_idempotency_answers_are_kept_a_day_and_the_key_still_charges_once_after(
    api: Api, db: Engine
) -> None:
    user_id = new_user(db)
    _fund(db, user_id)
    key = _key(db, user_id)
    body = {"products": [_upload(api, key)["id"]], "styles": ["realistic"]}
    headers = {"Idempotency-Key": "nightly-7"}
    first = api.post("/api/v1/generations", key, json=body, headers=headers)
    assert first.status_code == 201
    with session_scope(db) as session:
        now = utcnow()
        assert api_idempotency.forget_old_answers(session, now=now + timedelta(hours=23)) == 0
        assert api_idempotency.forget_old_answers(session, now=now + timedelta(hours=25)) == 1
    again = api.post("/api/v1/generations", key, json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert _spends(db, user_id) == 1 and _generations(db, user_id) == 1
