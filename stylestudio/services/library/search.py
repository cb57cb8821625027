"""Prompt search: a user's own generations whose prompt holds every word of the query.

One function for both databases. Migration 0004 creates the indexes it runs on:

- SQLite: `generations_fts`, an FTS5 table over `generations` (content='generations') that
  indexes `prompt` and the owner's `user_id`, kept in sync by triggers. The owner is indexed
  so FTS5 intersects "this user" with the query words inside the index (a user's ~1000 rows
  against a word's ~50 000) instead of walking every user's matches to find 24 of theirs.
- PostgreSQL: a GIN index on (user_id, to_tsvector('simple', prompt)) (btree_gin), so one
  index scan intersects the owner with the words; the query repeats that exact expression.

Users type anything: the query is cut to 200 characters and reduced to its words (runs of
Unicode letters and digits); quotes, `*`, `-`, parentheses, `^`, `:` and FTS5's operator
words (AND, OR, NOT, NEAR as written in capitals) are dropped, never interpreted. Every word
must match (case-insensitively; on SQLite accents are ignored too, PostgreSQL's 'simple'
configuration keeps them), the last one as a prefix while it is being typed ("marb" finds
"marble"). The query text only ever reaches the database as a bound parameter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

import sqlalchemy as sa
from sqlmodel import Session

MAX_QUERY_LENGTH = 200
MAX_WORDS = 16
MAX_LIMIT = 100
# A one-letter prefix would match a large part of the vocabulary; it is matched as a word.
MIN_PREFIX_LENGTH = 2
MAX_ID = 2**31 - 1  # ids are INTEGER columns

# The search objects of migration 0004. They are not models, so Alembic's autogenerate must
# not propose to drop them: pass `include_name` to `context.configure(...)` /
# `MigrationContext.configure(opts=...)`.
SQLITE_FTS_TABLE = "generations_fts"
# FTS5 keeps its index in these shadow tables (`_content` only exists for tables that store
# their own copy of the text; this one reads `generations`).
SQLITE_FTS_SHADOW_SUFFIXES = ("_data", "_idx", "_docsize", "_config", "_content")
POSTGRESQL_FTS_INDEX = "ix_generations_user_id_prompt_fts"

_WORD = re.compile(r"[^\W_]+")  # Unicode letters and digits; `_` splits words as in FTS5
_FTS5_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})

_SQLITE_SEARCH = """
    SELECT g.id FROM generations_fts AS f
    JOIN generations AS g ON g.id = f.rowid
    WHERE generations_fts MATCH :match AND g.user_id = :user_id {before}
    ORDER BY f.rowid DESC
    LIMIT :limit
"""

# Always the index first, then the newest: the GIN index answers "this user's rows holding
# these words" directly (cost: the words' posting lists plus one heap visit per match), while
# a plan walking the user's rows newest first and testing each one (which the planner picks
# for words that are common overall) reads every row of a user who never used the word:
# 240 ms for a 30 000-generation user at 1M generations, against 12 ms this way.
# The casts keep the parameters `integer`: psycopg sends small ints as smallint, and the
# btree_gin operator class of the index has no integer = smallint operator.
_POSTGRESQL_SEARCH = """
    WITH hits AS MATERIALIZED (
        SELECT id FROM generations
        WHERE user_id = CAST(:user_id AS INTEGER)
          AND to_tsvector('simple', prompt) @@ to_tsquery('simple', :tsquery) {before}
    )
    SELECT id FROM hits ORDER BY id DESC LIMIT :limit
"""


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic `include_name` hook: leave the search objects out of autogenerate."""
    if name is None:
        return True
    if type_ == "table":
        return not (
            name == SQLITE_FTS_TABLE
            or any(name == SQLITE_FTS_TABLE + suffix for suffix in SQLITE_FTS_SHADOW_SUFFIXES)
        )
    if type_ == "index":
        return name != POSTGRESQL_FTS_INDEX
    return True


def query_words(query: object) -> tuple[list[str], bool]:
    """The words to search for and whether the last one is a prefix ([] when nothing is left).

    The last word is a prefix unless the query ends after it (a space or punctuation says
    the word is complete), or it is shorter than MIN_PREFIX_LENGTH.
    """
    if not isinstance(query, str):
        return [], False
    text = unicodedata.normalize("NFC", query[:MAX_QUERY_LENGTH])
    typed = _WORD.findall(text)
    kept = [w for w in typed if w not in _FTS5_OPERATORS]
    words = [w.lower() for w in kept[:MAX_WORDS]]
    if not words:
        return [], False
    # Still typing the last word: the text ends in it, and it is the last word kept.
    still_typing = text.endswith(typed[-1]) and typed[-1] == kept[-1] and len(kept) <= MAX_WORDS
    last_is_prefix = still_typing and len(words[-1]) >= MIN_PREFIX_LENGTH
    return words, last_is_prefix


def sqlite_match(user_id: int, words: list[str], last_is_prefix: bool) -> str:
    """The FTS5 MATCH expression: the owner's token and every word, each a quoted phrase."""
    phrases = [f'prompt : "{w}"' for w in words]  # words hold letters and digits only
    if last_is_prefix:
        phrases[-1] += "*"
    return " AND ".join([f'user_id : "{int(user_id)}"', *phrases])


def postgresql_tsquery(words: list[str], last_is_prefix: bool) -> str:
    """The to_tsquery() text: every word quoted as a lexeme, AND-ed, the last maybe a prefix."""
    lexemes = [f"'{w}'" for w in words]  # words hold letters and digits only
    if last_is_prefix:
        lexemes[-1] += ":*"
    return " & ".join(lexemes)


def search_generations(
    session: Session,
    *,
    user_id: int,
    query: str,
    limit: int = 24,
    before_id: int | None = None,
) -> list[int]:
    """Ids of `user_id`'s generations whose prompt matches every word of `query`, newest
    first; pass the last id of a page as `before_id` for the next page."""
    words, last_is_prefix = query_words(query)
    if not words or not 0 < user_id <= MAX_ID:
        return []
    params: dict[str, object] = {"user_id": user_id, "limit": max(1, min(limit, MAX_LIMIT))}
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        sql = _SQLITE_SEARCH
        before = "AND f.rowid < :before_id"
        params["match"] = sqlite_match(user_id, words, last_is_prefix)
    elif dialect == "postgresql":
        sql = _POSTGRESQL_SEARCH
        before = "AND id < CAST(:before_id AS BIGINT)"
        params["tsquery"] = postgresql_tsquery(words, last_is_prefix)
    else:
        raise NotImplementedError(f"prompt search is not available on {dialect}")
    if before_id is not None:
        params["before_id"] = max(0, min(before_id, MAX_ID + 1))  # any int binds
    else:
        before = ""
    rows = session.connection().execute(sa.text(sql.format(before=before)), params)
    return [int(row[0]) for row in rows]
