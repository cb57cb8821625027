"""Prompt search: every word, any order, the last one a prefix; only the searcher's own
generations; whatever the query holds, it never raises nor reaches the SQL as syntax."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from stylestudio.db import session_scope
from stylestudio.models import Generation, GenerationStatus, User
from stylestudio.services.library.search import query_words, search_generations
from tests.support.builders import new_user, recorded_generation


def _search(db: Engine, user_id: int, query: str, **kwargs: int) -> list[int]:
    with session_scope(db, write=False) as session:
        return search_generations(session, user_id=user_id, query=query, **kwargs)


def _check_fts_integrity(db: Engine) -> None:
    """On SQLite, FTS5 verifies its index against `generations` (the triggers' work)."""
    if db.dialect.name == "sqlite":
        with db.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO generations_fts (generations_fts, rank) VALUES ('integrity-check', 1)"
            )


def test_every_word_in_any_order_case_insensitive(db: Engine) -> None:
    me = new_user(db)
    vase = recorded_generation(db, me, prompt="A white MARBLE vase on an oak table, soft daylight")
    lamp = recorded_generation(db, me, prompt="Brass lamp on a marble plinth in a loft")
    recorded_generation(db, me, prompt="Leather handbag on the beach at golden hour")

    assert _search(db, me, "marble") == [lamp, vase]
    assert _search(db, me, "Marble Vase") == [vase]
    assert _search(db, me, "vase marble") == [vase]
    assert _search(db, me, "TABLE oak daylight soft") == [vase]
    assert _search(db, me, "marble zebra") == []


def test_the_last_word_is_a_prefix_while_it_is_typed(db: Engine) -> None:
    me = new_user(db)
    vase = recorded_generation(db, me, prompt="white marble vase")
    marmalade = recorded_generation(db, me, prompt="a jar of marmalade")

    assert _search(db, me, "marb") == [vase]
    assert _search(db, me, "mar") == [marmalade, vase]
    assert _search(db, me, "white va") == [vase]
    # A finished word (followed by a space or punctuation) is matched whole.
    assert _search(db, me, "marb ") == []
    assert _search(db, me, "marble,") == [vase]
    # Only the last word is a prefix.
    assert _search(db, me, "whi vase") == []


def test_accents(db: Engine) -> None:
    me = new_user(db)
    accented = recorded_generation(db, me, prompt="Crème brûlée on a café terrace")
    plain = recorded_generation(db, me, prompt="creme brulee at the cafe counter")

    # Same accents, any case: both databases.
    assert accented in _search(db, me, "CAFÉ terrace")
    assert _search(db, me, "brûlée") == (
        [plain, accented] if db.dialect.name == "sqlite" else [accented]
    )
    if db.dialect.name == "sqlite":
        # unicode61 remove_diacritics 2 folds accents on both sides.
        assert _search(db, me, "cafe") == [plain, accented]
        assert _search(db, me, "café") == [plain, accented]
        assert _search(db, me, "creme brulee") == [plain, accented]
    else:
        # PostgreSQL's 'simple' configuration keeps accents: a word matches as written.
        assert _search(db, me, "cafe") == [plain]
        assert _search(db, me, "café") == [accented]


def test_updates_and_deletes_are_reflected(db: Engine) -> None:
    me = new_user(db)
    first = recorded_generation(db, me, prompt="green velvet armchair")
    second = recorded_generation(db, me, prompt="green ceramic teapot")

    with session_scope(db) as session:
        generation = session.get(Generation, first)
        assert generation is not None
        generation.prompt = "blue velvet sofa"
        session.add(generation)
    assert _search(db, me, "green") == [second]
    assert _search(db, me, "armchair") == []
    assert _search(db, me, "blue sofa") == [first]

    # A change that is not the prompt leaves the search as it was.
    with session_scope(db) as session:
        generation = session.get(Generation, second)
        assert generation is not None
        generation.status = GenerationStatus.FAILED
        session.add(generation)
    assert _search(db, me, "teapot") == [second]

    with session_scope(db) as session:
        generation = session.get(Generation, second)
        assert generation is not None
        session.delete(generation)
    assert _search(db, me, "green") == []
    assert _search(db, me, "velvet") == [first]
    _check_fts_integrity(db)


def test_deleting_a_user_cascades_out_of_the_index(db: Engine) -> None:
    me = new_user(db)
    gone = new_user(db, "gone@example.com")
    mine = recorded_generation(db, me, prompt="linen shirt on a hanger")
    recorded_generation(db, gone, prompt="linen shirt on a hanger")
    with session_scope(db) as session:
        user = session.exec(select(User).where(User.id == gone)).one()
        session.delete(user)
    assert _search(db, gone, "linen") == []
    assert _search(db, me, "linen") == [mine]
    _check_fts_integrity(db)


HOSTILE = [
    '"',
    '""',
    '"marble',
    "*",
    "marble*",
    "-",
    "-marble",
    "marble -vase",
    "marble OR vase",
    "marble AND vase",
    "NOT marble",
    "NEAR(",
    "NEAR(marble vase)",
    "NEAR(marble vase, 0)",
    "(marble",
    "marble)",
    "prompt:marble",
    "user_id:1",
    "{user_id prompt}: marble",
    "^marble",
    "marble + vase",
    "marble & vase",
    "marble | vase",
    "!marble",
    "marble <-> vase",
    "'marble'",
    "marble:*",
    "mar%",
    "mar_",
    "\\",
    "'; DROP TABLE generations; --",
    "\x00marble",
    "\ud800",
    "🏺 marble",
    "a" * 10_000,
    "marble " * 2_000,
    "?!.,;:()[]{}<>\"'`~@#$%^&*-+=|\\/",
    "   ",
    "",
]


def test_hostile_queries_never_raise(db: Engine) -> None:
    me = new_user(db)
    ids = {
        recorded_generation(db, me, prompt="white marble vase"),
        recorded_generation(db, me, prompt="marble plinth"),
    }
    other = new_user(db, "other@example.com")
    recorded_generation(db, other, prompt="white marble vase")

    for query in HOSTILE:
        found = _search(db, me, query)
        assert set(found) <= ids, query
        found = _search(db, me, query, limit=5, before_id=max(ids))
        assert set(found) <= ids, query
    with db.connect() as conn:  # still there, whatever a query said
        assert conn.execute(sa.text("SELECT count(*) FROM generations")).scalar_one() == 3
    _check_fts_integrity(db)


def test_syntax_is_dropped_not_interpreted(db: Engine) -> None:
    me = new_user(db)
    vase = recorded_generation(db, me, prompt="white marble vase")
    plinth = recorded_generation(db, me, prompt="marble plinth")

    def found(query: str) -> list[int]:
        return _search(db, me, query)

    assert found('"marble"') == [plinth, vase]
    assert found("-marble") == [plinth, vase]  # not a NOT
    assert found("marble -vase") == [vase]  # not a NOT either: every word must match
    assert found("marble OR plinth") == [plinth]  # OR is no operator: both words
    assert found("NEAR(marble vase)") == [vase]
    assert found('"marble') == [plinth, vase]
    # No column filters: "prompt" and "user", "id", "1" are words no prompt holds.
    assert found("prompt:marble") == []
    assert found("user_id:1") == []
    assert found("marble " * 2_000) == [plinth, vase]
    for nothing in ("", "   ", "*", '"', "NEAR(", "OR", "?!.,;:()[]{}<>\"'`~@#$%^&*-+=|\\/"):
        assert found(nothing) == []


def test_query_words() -> None:
    assert query_words("Marble  VASE") == (["marble", "vase"], True)
    assert query_words("marble vase ") == (["marble", "vase"], False)
    assert query_words("m") == (["m"], False)  # too short to be a prefix
    assert query_words("marble OR") == (["marble"], False)
    assert query_words("ab_cd-ef") == (["ab", "cd", "ef"], True)
    assert query_words("x" * 10_000)[0] == ["x" * 200]
    assert len(query_words("w " * 1_000)[0]) == 16
    assert query_words(None) == ([], False)
    assert query_words("!!!") == ([], False)


def test_another_users_generations_are_never_returned(db: Engine) -> None:
    me = new_user(db)
    other = new_user(db, "other@example.com")
    mine = recorded_generation(db, me, prompt="silk scarf in a boutique window")
    theirs = [
        recorded_generation(db, other, prompt="silk scarf in a boutique window") for _ in range(5)
    ]

    assert _search(db, me, "silk scarf") == [mine]
    assert _search(db, other, "silk scarf") == theirs[::-1]
    assert _search(db, me, "silk", before_id=theirs[-1] + 1) == [mine]
    assert _search(db, 999_999, "silk") == []
    assert _search(db, 0, "silk") == []
    assert _search(db, -other, "silk") == []
    assert _search(db, 2**40, "silk") == []  # beyond any id: nobody, not an error
    assert _search(db, me, "silk", before_id=2**40) == [mine]
    assert _search(db, me, "silk", before_id=2**70) == [mine]
    assert _search(db, me, "silk", before_id=-(2**70)) == []


def test_keyset_pagination(db: Engine) -> None:
    me = new_user(db)
    matching = []
    for i in range(30):
        matching.append(recorded_generation(db, me, prompt=f"walnut stool number {i}"))
        recorded_generation(db, me, prompt=f"oak chair number {i}")
    newest_first = matching[::-1]

    pages: list[list[int]] = []
    before: int | None = None
    while True:
        kwargs = {"limit": 12} if before is None else {"limit": 12, "before_id": before}
        page = _search(db, me, "walnut", **kwargs)
        if not page:
            break
        pages.append(page)
        before = page[-1]
    assert [len(p) for p in pages] == [12, 12, 6]
    assert [i for p in pages for i in p] == newest_first
    assert _search(db, me, "walnut", limit=1_000) == newest_first  # capped at 100, all here
    assert _search(db, me, "walnut", limit=0) == newest_first[:1]
    assert _search(db, me, "walnut", before_id=matching[0]) == []
