"""Every event handler is a public RPC: a browser console can call any of them with any
arguments. Each handler of every state (found from the app's registry, so a new one is
covered without editing this test) is sent wrong types, huge and negative numbers, lists,
dicts, nulls, floats, NaN, a superscript digit and a 100 kB string, through Reflex's real
event processing on a signed-in admin's tab. None may raise (the page would show "An error
occurred." and the log a traceback), and another user's tab and data stay as they were."""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from stylestudio.adapters.local_engine.engine import LocalEngine
from stylestudio.db import session_scope
from stylestudio.models import Generation, ShareLink, User, UserRole, UserSession
from stylestudio.services.accounts import accounts
from stylestudio.services.billing import pricing
from stylestudio.services.generation.generations import InputPhoto
from stylestudio.settings import get_settings
from stylestudio.state import generation_watch
from stylestudio.state.account import AccountState
from stylestudio.state.admin import AdminState
from stylestudio.state.arguments import RULES_ATTRIBUTE, CheckedSetVar
from stylestudio.state.gallery import GalleryState
from stylestudio.state.studio import StudioState
from stylestudio.state.studio_inputs import StudioInputsState
from tests.support.builders import new_generation, new_upload, new_user, run_one_job
from tests.support.event_processing import (
    Answer,
    AppEvents,
    app_event_handlers,
    event_name,
    new_tab,
)

HUGE = 2**70
# What a hostile console sends in place of an argument.
HOSTILE: list[Any] = [
    None,
    True,
    0,
    -1,
    HUGE,
    -HUGE,
    1.5,
    math.nan,
    math.inf,
    "",
    "²",
    "x" * 100_000,
    [1, 2],
    [[]],
    {"a": 1},
    {"": [None]},
]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 40 else f"{text[:20]}…({len(text)} chars)"


@pytest.fixture
def app_db(db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The app's configured database is the test's; watchers stop at once (no websocket)."""
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STYLESTUDIO_RATE_LIMITS_ENABLED", "false")
    get_settings.cache_clear()
    monkeypatch.setattr(generation_watch, "tab_is_connected", lambda token: False)
    monkeypatch.setattr(generation_watch, "TAB_GONE_SECONDS", 0.0)
    yield db
    get_settings.cache_clear()


def _session(db: Engine, user_id: int) -> str:
    with session_scope(db) as session:
        return accounts.start_session(session, user_id=user_id)


def _still_signed_in(db: Engine, token: str) -> bool:
    with session_scope(db, write=False) as session:
        return accounts.resolve_session(session, token=token) is not None


def _books_of(db: Engine, user_id: int) -> dict[str, object]:
    """What another user would notice changing: balance, generations, sessions, links."""
    with session_scope(db, write=False) as session:
        user = session.get(User, user_id)
        assert user is not None
        gens = session.exec(
            select(Generation.id, Generation.status).where(Generation.user_id == user_id)
        ).all()
        links = session.exec(
            select(ShareLink.id, ShareLink.revoked_at).where(ShareLink.created_by_id == user_id)
        ).all()
        live = session.exec(
            select(func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))  # type: ignore[union-attr]
        ).one()
        return {
            "credits": user.credits,
            "disabled": user.is_disabled,
            "publishing_suspended": user.publishing_suspended,
            "generations": sorted(gens),
            "links": sorted(links),
            "sessions": live,
        }


def _payloads(fn: Any, params: list[str], value: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every argument set to `value`; and for a form, a form whose every field is `value`;
    with the first value, also no arguments at all and one argument too many."""
    payloads = [("", dict.fromkeys(params, value))]
    if value is HOSTILE[0]:
        payloads += [(" (none sent)", {}), (" and one more", {**payloads[0][1], "extra": 1})]
    rules = getattr(fn, RULES_ATTRIBUTE, {})
    for name in params:
        fields = getattr(rules.get(name), "form_fields", None)
        if fields:
            payloads.append((f" in every field of {name}", {name: dict.fromkeys(fields, value)}))
    return payloads


def _failures(answer: Answer) -> list[str]:
    found = [f"{type(e).__name__}: {str(e)[:120]}" for e in answer.exceptions]
    found += ["'An error occurred.' toast" for t in answer.toasts() if "An error occurred" in t]
    return found


def _with_arguments(handlers: dict[str, Any]) -> dict[str, list[str]]:
    """The handlers that take arguments, and their arguments' names."""
    named = {
        name: [p for p in inspect.signature(r.handler.fn).parameters if p != "self"]
        for name, r in handlers.items()
    }
    return {name: params for name, params in named.items() if params}


def test_every_handler_argument_has_a_rule() -> None:
    """`@checked` on the app's handlers (which refuses to decorate a handler unless every
    argument has a rule), `CheckedSetVar` for Reflex's own `setvar`."""
    handlers = app_event_handlers()
    unchecked = [
        name.rsplit("___", 1)[-1]
        for name in _with_arguments(handlers)
        if not hasattr(handlers[name].handler.fn, RULES_ATTRIBUTE)
        and not isinstance(handlers[name].handler, CheckedSetVar)
    ]
    assert not unchecked, unchecked


@pytest.mark.slow
async def test_every_handler_survives_hostile_arguments(
    app_db: Engine, storage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    admin = new_user(app_db, "fuzzer@example.com", role=UserRole.ADMIN)
    other = new_user(app_db, "bystander@example.com")
    for user_id in (admin, other):  # real rows for the handlers to look at: done and queued
        image = new_upload(app_db, storage, user_id)
        new_generation(app_db, user_id=user_id, image_id=image, key=f"done-{user_id}")
        assert await asyncio.to_thread(run_one_job, app_db, storage, LocalEngine())
        new_generation(app_db, user_id=user_id, image_id=image, key=f"queued-{user_id}")
    handlers = app_event_handlers()
    with_arguments = _with_arguments(handlers)
    assert len(with_arguments) > 40, sorted(with_arguments)  # the registry was found

    fuzzer_session = _session(app_db, admin)
    other_session = _session(app_db, other)
    other_books = _books_of(app_db, other)
    caplog.set_level(logging.WARNING)
    crashes: dict[str, list[str]] = {}
    sent = 0
    async with AppEvents() as app:
        fuzzer_tab, other_tab = new_tab(), new_tab()
        opened = await app.send(
            other_tab,
            event_name(GalleryState, "open_gallery"),
            {},
            session=other_session,
            path="/gallery",
        )
        assert not opened.exceptions
        other_view = await app.state_of(other_tab, GalleryState)
        other_studio = await app.state_of(other_tab, StudioState)
        for name, params in sorted(with_arguments.items()):
            short = name.rsplit("___", 1)[-1]
            for value in HOSTILE:
                for where, payload in _payloads(handlers[name].handler.fn, params, value):
                    if not _still_signed_in(app_db, fuzzer_session):
                        fuzzer_session = _session(app_db, admin)  # e.g. `revoke` of its own
                    answer = await app.send(
                        fuzzer_tab, name, payload, session=fuzzer_session, path="/"
                    )
                    sent += 1
                    crashes.setdefault(short, []).extend(
                        f"{params}={_describe(value)}{where}: {failure}"
                        for failure in _failures(answer)
                    )
        crashes = {handler: found for handler, found in crashes.items() if found}
        assert sent > 20 * len(with_arguments), sent  # every handler, every value
        assert await app.state_of(other_tab, GalleryState) == other_view
        assert await app.state_of(other_tab, StudioState) == other_studio
    report = "\n".join(f"{h}: {len(c)} crashes, e.g. {c[:3]}" for h, c in sorted(crashes.items()))
    assert not crashes, f"handlers that raised:\n{report}"
    errors = [r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
    # What a client sent is not copied into the log (a 100 kB value made a 100 kB line).
    longest = max((len(r.getMessage()), r.name) for r in caplog.records)
    assert longest[0] < 1000, longest
    assert _books_of(app_db, other) == other_books


async def _studio_with_a_photo(app: AppEvents, tab: str, image_id: int, seed_text: str) -> None:
    """As if the photo had been uploaded and `seed_text` typed (or kept from before)."""
    async with app.manager.modify_state(rx.BaseStateToken(ident=tab, cls=StudioState)) as root:
        studio = await root.get_state(StudioState)
        studio.products = [InputPhoto(id=image_id, url="", name="shoe.jpg", placeholder="")]
        studio.seed_text = seed_text


async def test_the_reported_crashes_are_refused_with_a_message(
    app_db: Engine, storage: Any
) -> None:
    """Issue 14 (7): each of these raised before, and showed "An error occurred."."""
    admin = new_user(app_db, "ada@example.com", role=UserRole.ADMIN)
    image = new_upload(app_db, storage, admin)
    session = _session(app_db, admin)
    reported: list[tuple[type[Any], str, dict[str, Any], str]] = [
        (GalleryState, "set_filter_status", {"value": ["completed"]}, "Value must be one of"),
        (GalleryState, "set_filter_style", {"value": ["studio"]}, "Value must be one of"),
        (GalleryState, "revoke_share", {"link_id": HUGE}, "Link id must be a whole number"),
        (AccountState, "revoke", {"session_id": HUGE}, "Session id must be a whole number"),
        (AdminState, "check_purchase", {"purchase_id": HUGE}, "Purchase id must be a whole"),
        (StudioState, "set_variations", {"value": "²"}, "Value must be a whole number"),
    ]
    async with AppEvents() as app:
        tab = new_tab()
        await app.send(tab, event_name(StudioState, "open_studio"), {}, session=session)
        for state, handler, payload, message in reported:
            before = await app.state_of(tab, state)
            answer = await app.send(tab, event_name(state, handler), payload, session=session)
            assert not answer.exceptions, (handler, answer.exceptions)
            assert any(message in t and "Refused" in t for t in answer.toasts()), (
                handler,
                answer.toasts(),
            )
            assert await app.state_of(tab, state) == before, handler  # nothing changed

        # What the pages send still works, with no refusal.
        style = next(k for k in pricing.STYLE_PRESETS if k != "realistic")  # not the default
        sent_by_pages: list[tuple[type[Any], str, dict[str, Any], str, object]] = [
            (
                GalleryState,
                "set_filter_status",
                {"value": "completed"},
                "filter_status",
                "completed",
            ),
            (GalleryState, "set_filter_style", {"value": "all"}, "filter_style", ""),
            (GalleryState, "select_collection", {"collection_id": 0}, "filter_collection", 0),
            (GalleryState, "set_share_open", {"value": False}, "share_open", False),
            (
                StudioState,
                "toggle_more_style",
                {"style": style, "checked": True},
                "more_styles",
                [style],
            ),
            (StudioState, "set_compare_at", {"value": [30]}, "compare_at", 30),
            (StudioState, "set_variations", {"value": "1"}, "variations", 1),
            (
                StudioInputsState,
                "upload_progress",
                {"progress": {"loaded": 5, "total": 10, "progress": 0.5}},
                "upload_percent",
                50,
            ),
            (
                StudioInputsState,
                "reject_upload",
                {"codes": ["too-many-files"]},
                "upload_error",
                "Drop at most 4 product photos at a time.",
            ),
            (AccountState, "save_name", {"form": {"name": "Ada L."}}, "name", "Ada L."),
        ]
        for state, handler, payload, var, expected in sent_by_pages:
            answer = await app.send(tab, event_name(state, handler), payload, session=session)
            assert not answer.exceptions and not answer.toasts(), (handler, answer.toasts())
            shown = (await app.state_of(tab, state))[var]
            assert expected is None or shown == expected, (handler, shown)
        studio = event_name(StudioState, "set_seed_text")
        await app.send(tab, studio, {"value": "1²3"}, session=session)
        assert (await app.state_of(tab, StudioState))["seed_text"] == "13"  # ASCII digits only

        # A seed kept from before (the studio used to keep "²") and then `Generate`: a
        # message under the button, no traceback, nothing spent.
        await _studio_with_a_photo(app, tab, image, "²")
        answer = await app.send(tab, event_name(StudioState, "generate"), {}, session=session)
        assert not answer.exceptions
        shown = await app.state_of(tab, StudioState)
        assert shown["generate_error"] == "The seed must be from 0 to 2147483647."
        assert shown["results"] == []
