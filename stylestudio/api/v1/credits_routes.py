"""`GET /credits` and `GET /credits/ledger`: the balance and its movements (credits:read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from stylestudio.api.v1.problems import problem_responses
from stylestudio.api.v1.schemas import (
    PAGE_MAX,
    Balance,
    LedgerEntry,
    LedgerPage,
    decode_cursor,
    encode_cursor,
)
from stylestudio.api.v1.security import scoped
from stylestudio.db import get_engine, session_scope
from stylestudio.services.accounts.api_keys import ApiPrincipal
from stylestudio.services.billing import credits, ledger_pages

router = APIRouter(tags=["credits"], responses=problem_responses(400, 401, 403, 429))
CreditsReader = Annotated[ApiPrincipal, Depends(scoped("credits:read"))]


@router.get(
    "/credits", operation_id="getCredits", openapi_extra={"x-required-scope": "credits:read"}
)
def get_credits(who: CreditsReader) -> Balance:
    """The credit balance (what the header of the pages shows)."""
    with session_scope(get_engine(), write=False) as session:
        return Balance(credits=credits.balance(session, user_id=who.user_id))


@router.get(
    "/credits/ledger",
    operation_id="listLedgerEntries",
    openapi_extra={"x-required-scope": "credits:read"},
    responses=problem_responses(422),
)
def list_ledger(
    who: CreditsReader,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
) -> LedgerPage:
    """Every credit movement, newest first, a page at a time: pass `next_cursor` back as
    `cursor` until it is null."""
    before = decode_cursor("ledger", cursor)
    with session_scope(get_engine(), write=False) as session:
        lines = ledger_pages.ledger_page(
            session, user_id=who.user_id, limit=limit + 1, before_id=before
        )
    page = lines[:limit]
    more = len(lines) > limit
    return LedgerPage(
        data=[LedgerEntry.of(line) for line in page],
        next_cursor=encode_cursor("ledger", page[-1].id) if more and page else None,
    )
