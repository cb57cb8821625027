"""Following generations from a tab, and cancelling them: shared by the studio and the
gallery."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from stylestudio.runtime import get_prediction_engine
from stylestudio.services import accounts, generations
from stylestudio.services.generation_views import get_generation_views
from stylestudio.state.calls import in_session

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
# A generation outlasting this is still running in the worker; the gallery will show it.
WATCH_TIMEOUT_SECONDS = 15 * 60
TAB_GONE_SECONDS = 30.0
# Watchers running in this process. A tab whose `_watch_id` is not here (the backend
# restarted, or the watcher died) has nobody watching, whatever `watching` says.
LIVE_WATCHERS: set[str] = set()


async def cancel_for_user(user_id: int, generation_id: int) -> None:
    """Cancel in our database first (the one terminal transition), then at the provider."""
    prediction_id = await in_session(
        lambda s: generations.cancel_generation(s, user_id=user_id, generation_id=generation_id)
    )
    engine = get_prediction_engine()
    if prediction_id and engine is not None:
        try:
            await engine.cancel(prediction_id)
        except Exception as exc:  # cancelled here whatever the provider says
            log.warning("could not cancel prediction %s: %r", prediction_id, exc)


def tab_is_connected(client_token: str) -> bool:
    """Whether the tab behind this Reflex client token has a websocket on this process."""
    from reflex.utils.prerequisites import get_app

    namespace = get_app().app.event_namespace
    return namespace is None or client_token in namespace.token_to_sid


def views_for_token(
    session: Session, *, token: str | None, ids: list[int], base: str
) -> list[dict[str, Any]]:
    user = accounts.require_user(session, token=token)
    return [
        v.as_dict()
        for v in get_generation_views(session, user_id=user.id, generation_ids=ids, base_url=base)
    ]
