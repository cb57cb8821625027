"""The gallery, prompt search and Explore at scale: 1 000 000 generations over 1 000 users.

Prints JSON (query plans go to stderr). Each database is a temporary one, created and
dropped here: migrated to 0003, bulk-loaded (SQLite: executemany in big transactions with
synchronous=OFF; PostgreSQL: COPY with foreign-key triggers off, the rows being consistent
by construction), then migrated to head, which builds the search index over the rows that
exist (timed: `migrate_head_s`). Every measurement goes through the service the page calls,
in its own read session, as the app does:

  (a) gallery_first_page   list_user_generations, a random ordinary user (~970 generations)
  (b) gallery_depth_1000   list_user_generations with before_id 1000 rows deep, for the
                           heavy user (30 000 generations)
  (c) search_*             search_generations: one word, two words, a prefix ("mar"), for
                           random ordinary users and for the heavy user
  (d) explore_first_page   list_public_gallery, ~5% of the generated images featured

Each generation has one product upload (generation_inputs, as the gallery loads its
thumbnail) and, when it completed (~92%), one GENERATED image. Targets (issue 8): (a), (b),
(d) p99 <= 2 ms, (c) p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylestudio.db import compiled_for, create_db_engine, session_scope
from stylestudio.services.billing import pricing
from stylestudio.services.generation.generation_views import _page_of, list_user_generations
from stylestudio.services.ids import MAX_ROW_ID
from stylestudio.services.library.search import search_generations
from stylestudio.services.moderation.showcase import _first_page, list_public_gallery
from tests.support.databases import alembic_config, empty_database, postgres_available

BASE_URL = "http://bench.local"
TARGETS_P99_MS = {"gallery": 2.0, "search": 50.0, "explore": 2.0}
CHUNK = 50_000
PRODUCTS_PER_USER = 20
HEAVY_USER = 1
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def _words(text: str) -> list[str]:
    return text.split()


# A product-photo vocabulary; words are drawn with Zipf-like weights (the first ones are
# common, the last ones rare), so one-word searches range from ~1 in 30 to ~1 in 1000 rows.
PRODUCTS = _words(
    "vase sneaker handbag watch lamp chair bottle perfume candle mug teapot backpack "
    "sunglasses necklace ring bracelet earrings headphones speaker keyboard jacket dress "
    "shirt scarf hat boots sandal wallet belt notebook pen bowl plate cushion rug mirror "
    "clock bicycle helmet skateboard guitar camera tripod toaster kettle blender knife "
    "spoon glass decanter soap lotion serum shampoo toothbrush towel blanket pillow stool "
    "shelf planter"
)
MATERIALS = _words(
    "marble oak walnut leather linen ceramic brass copper steel glass velvet silk wool "
    "cotton denim bamboo rattan concrete terracotta porcelain gold silver chrome cork "
    "suede canvas resin stone granite slate"
)
COLORS = _words(
    "black white ivory beige red crimson orange amber yellow mustard green olive emerald "
    "teal blue navy cobalt purple lilac pink blush brown tan grey charcoal"
)
SCENES = _words(
    "studio kitchen bathroom bedroom garden beach forest desert mountain rooftop café "
    "street market library office loft cabin greenhouse boutique gallery terrace poolside "
    "harbor meadow vineyard"
)
SURFACES = _words("table shelf countertop pedestal plinth windowsill floor sand moss rock tray")
LIGHTS = _words("softbox daylight golden-hour backlit moody neon candlelit overcast diffused")
LOOKS = _words(
    "minimalist editorial cinematic lifestyle flat-lay macro vintage scandinavian "
    "brutalist pastel crème rustic luxe"
)
TEMPLATES = (
    "{c} {m} {p} on a {s} in a {sc}, {li} light, {lo} product photo",
    "{p} made of {m}, {c} accents, {sc} background, {lo} style",
    "{lo} shot of a {c} {p} beside a {m} {p2}, {li} lighting",
    "close-up of a {m} {p} on {s}, {c} backdrop, {li}",
    "{c} {p} floating above a {m} {s}, {sc} at dusk, {lo}",
)
HEAVY_USER_PRODUCTS = ("sneaker", "handbag", "backpack", "boots", "sandal", "wallet", "belt")
# Common words the heavy user never wrote: "nothing of mine matches" for a word that is
# everywhere else is the worst case of a plan that filters the user's rows one by one.
SEARCH_ABSENT_FOR_HEAVY_USER = [p for p in PRODUCTS[:12] if p not in HEAVY_USER_PRODUCTS]
SEARCH_ONE_WORD = [*PRODUCTS[::4], *MATERIALS[::3], *COLORS[::3], *SCENES[::3]]
SEARCH_TWO_WORDS = [f"{m} {p}" for m in MATERIALS[:12:2] for p in PRODUCTS[:40:5]]
# The heavy user searches its own products (and the shared materials, colours, scenes).
SEARCH_ONE_WORD_HEAVY = [*HEAVY_USER_PRODUCTS, *SEARCH_ONE_WORD[len(PRODUCTS[::4]) :]]
SEARCH_TWO_WORDS_HEAVY = [f"{m} {p}" for m in MATERIALS[:12:2] for p in HEAVY_USER_PRODUCTS]
SEARCH_PREFIX = ["mar", "lea", "cer", "can", "bou", "gre", "wal", "sne", "per", "vel"]

GENERATION_COLUMNS = (
    "id, user_id, status, prompt, negative_prompt, model, style, quality, strength, "
    "aspect_ratio, guidance_scale, num_inference_steps, seed, credits_used, processing_ms, "
    "retry_count, engine, idempotency_key, created_at, updated_at, completed_at"
)
IMAGE_COLUMNS = (
    "id, user_id, category, filename, content_type, size_bytes, width, height, storage_key, "
    "thumbnail_key, generation_id, image_order, is_primary, sharing_enabled, is_featured, "
    "featured_at, moderation_status, is_disabled_by_admin, created_at"
)
INPUT_COLUMNS = "generation_id, image_id, role, position"

# Not in the models yet (a model change, see the report of issue 8): --proposed-indexes adds
# them to show what they change. Keyset pages of one user's generations, newest first:
# PostgreSQL otherwise walks the primary key backwards past every other user's rows (SQLite's
# ix_generations_user_id already ends in the rowid, so it changes nothing there).
PROPOSED_INDEXES = {
    "ix_generations_user_id_id": "CREATE INDEX ix_generations_user_id_id ON generations "
    "(user_id, id)",
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _picker(words: Sequence[str], rng: random.Random) -> Callable[[int], list[str]]:
    weights = [1 / (i + 1) ** 0.8 for i in range(len(words))]
    cum = [sum(weights[: i + 1]) for i in range(len(weights))]
    return lambda k: rng.choices(words, cum_weights=cum, k=k)


# --------------------------------------------------------------------------- the data set


class DataSet:
    """Deterministic rows, generated chunk by chunk (the same for both databases)."""

    def __init__(self, *, generations: int, users: int, heavy: int, seed: int = 8) -> None:
        self.generations = generations
        self.users = users
        self.heavy = heavy
        self.seed = seed
        rng = random.Random(seed)
        share = heavy / generations
        # Owner of each generation: the heavy user with probability `share`, else any other.
        self.owner = [
            HEAVY_USER if rng.random() < share else rng.randint(2, users)
            for _ in range(generations)
        ]
        self.suspended = set(rng.sample(range(2, users + 1), max(1, users // 100)))

    def user_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "id": u,
                "email": f"user{u}@bench.local",
                "name": f"Bench User {u}",
                "suspended": u in self.suspended,
                "created_at": EPOCH - timedelta(days=30),
            }
            for u in range(1, self.users + 1)
        ]

    def chunks(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(generation rows, generated-image rows) per chunk of generation ids."""
        rng = random.Random(self.seed + 1)
        pick = {
            k: _picker(words, rng)
            for k, words in (
                ("c", COLORS),
                ("m", MATERIALS),
                ("p", PRODUCTS),
                ("p2", PRODUCTS[::-1]),
                ("s", SURFACES),
                ("sc", SCENES),
                ("li", LIGHTS),
                ("lo", LOOKS),
            )
        }
        styles = list(pricing.STYLE_PRESETS)
        qualities = list(pricing.QUALITY_LABELS)
        ratios = list(pricing.ASPECT_RATIO_MULTIPLIERS)
        for start in range(1, self.generations + 1, CHUNK):
            n = min(CHUNK, self.generations + 1 - start)
            words = {k: f(n) for k, f in pick.items()}
            templates = rng.choices(TEMPLATES, k=n)
            generations: list[tuple[Any, ...]] = []
            images: list[tuple[Any, ...]] = []
            for j in range(n):
                gid = start + j
                uid = self.owner[gid - 1]
                row_words = {k: w[j] for k, w in words.items()}
                if uid == HEAVY_USER:  # a shoe and bag brand: its own products only
                    row_words["p"] = HEAVY_USER_PRODUCTS[gid % len(HEAVY_USER_PRODUCTS)]
                    row_words["p2"] = HEAVY_USER_PRODUCTS[gid // 7 % len(HEAVY_USER_PRODUCTS)]
                prompt = templates[j].format(**row_words)
                created = EPOCH + timedelta(seconds=20 * gid)
                roll = rng.random()
                status = "completed" if roll < 0.92 else "failed" if roll < 0.97 else "cancelled"
                done = created + timedelta(seconds=9)
                generations.append(
                    (
                        gid,
                        uid,
                        status,
                        prompt,
                        "",
                        pricing.DEFAULT_MODEL,
                        styles[gid % len(styles)],
                        qualities[gid % len(qualities)],
                        0.8,
                        ratios[gid % len(ratios)],
                        7.5,
                        30,
                        gid % 2_147_483_647,
                        2,
                        8_500,
                        0,
                        "local",
                        f"bench-{gid}",
                        created,
                        done,
                        done,
                    )
                )
                if status != "completed":
                    continue
                featured = rng.random() < 0.05
                images.append(
                    (
                        self.image_id(gid),
                        uid,
                        "generated",
                        f"result-{gid}.jpg",
                        "image/jpeg",
                        180_000,
                        1024,
                        1024,
                        f"generated/{uid}/{gid}.jpg",
                        f"generated/{uid}/{gid}.thumb.jpg",
                        gid,
                        0,
                        True,
                        False,
                        featured,
                        done + timedelta(minutes=rng.randint(1, 4000)) if featured else None,
                        "approved" if featured else "none",
                        False,
                        done,
                    )
                )
            yield generations, images

    def product_image_rows(self) -> list[tuple[Any, ...]]:
        rows = []
        for uid in range(1, self.users + 1):
            for k in range(PRODUCTS_PER_USER):
                iid = (uid - 1) * PRODUCTS_PER_USER + k + 1
                rows.append(
                    (
                        *(iid, uid, "product", f"upload-{iid}.jpg", "image/jpeg", 90_000),
                        *(800, 800, f"uploads/{uid}/{iid}.jpg", f"uploads/{uid}/{iid}.t.jpg"),
                        *(None, 0, True, False, False, None, "none", False),
                        EPOCH - timedelta(days=1),
                    )
                )
        return rows

    def input_rows(self, generation_ids: Iterator[tuple[int, int]]) -> list[tuple[Any, ...]]:
        return [
            (gid, (uid - 1) * PRODUCTS_PER_USER + gid % PRODUCTS_PER_USER + 1, "product", 0)
            for gid, uid in generation_ids
        ]

    def image_id(self, generation_id: int) -> int:
        return self.users * PRODUCTS_PER_USER + generation_id


# --------------------------------------------------------------------------- loading


def _placeholders(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLAlchemy's SQLite DateTime format, zone-less UTC
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def load_sqlite(path: str, data: DataSet) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO users (id, email, name, role, is_disabled, flagged_for_review, "
            "publishing_suspended, credits, total_credits_purchased, total_credits_used, "
            "free_credits_granted, created_at, updated_at) VALUES "
            "(:id, :email, :name, 'user', 0, 0, :suspended, 100, 0, 0, 10, :c, :c)",
            [{**u, "c": _sqlite_value(u["created_at"])} for u in data.user_rows()],
        )
        conn.executemany(
            f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES ({_placeholders(IMAGE_COLUMNS)})",
            [tuple(map(_sqlite_value, r)) for r in data.product_image_rows()],
        )
        conn.execute("COMMIT")
        for generations, images in data.chunks():
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO generations ({GENERATION_COLUMNS}) "
                f"VALUES ({_placeholders(GENERATION_COLUMNS)})",
                [tuple(map(_sqlite_value, r)) for r in generations],
            )
            conn.executemany(
                f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES ({_placeholders(IMAGE_COLUMNS)})",
                [tuple(map(_sqlite_value, r)) for r in images],
            )
            conn.executemany(
                f"INSERT INTO generation_inputs ({INPUT_COLUMNS}) VALUES (?, ?, ?, ?)",
                data.input_rows((g[0], g[1]) for g in generations),
            )
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    """COPY text format; the data holds no tab, newline or backslash."""
    out = []
    for row in rows:
        fields = []
        for v in row:
            if v is None:
                fields.append("\\N")
            elif isinstance(v, bool):
                fields.append("t" if v else "f")
            elif isinstance(v, datetime):
                fields.append(v.isoformat(" "))
            else:
                fields.append(str(v))
        out.append("\t".join(fields))
    return "\n".join(out) + "\n"


def load_postgresql(url: str, data: DataSet) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        cur = conn.cursor()
        # Foreign-key checks are triggers; the rows are consistent by construction.
        cur.execute("SET session_replication_role = replica")
        cur.execute("SET synchronous_commit = off")
        cur.executemany(
            "INSERT INTO users (id, email, name, role, is_disabled, flagged_for_review, "
            "publishing_suspended, credits, total_credits_purchased, total_credits_used, "
            "free_credits_granted, created_at, updated_at) VALUES "
            "(%(id)s, %(email)s, %(name)s, 'user', false, false, %(suspended)s, 100, 0, 0, 10, "
            "%(created_at)s, %(created_at)s)",
            data.user_rows(),
        )
        with cur.copy(f"COPY images ({IMAGE_COLUMNS}) FROM STDIN") as copy:
            copy.write(_copy_text(data.product_image_rows()))
        conn.commit()
        for generations, images in data.chunks():
            with cur.copy(f"COPY generations ({GENERATION_COLUMNS}) FROM STDIN") as copy:
                copy.write(_copy_text(generations))
            with cur.copy(f"COPY images ({IMAGE_COLUMNS}) FROM STDIN") as copy:
                copy.write(_copy_text(images))
            with cur.copy(f"COPY generation_inputs ({INPUT_COLUMNS}) FROM STDIN") as copy:
                copy.write(_copy_text(data.input_rows((g[0], g[1]) for g in generations)))
            conn.commit()
        for table in ("users", "generations", "images"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        conn.commit()


def settle(engine: Engine, *, sqlite_analyze: bool) -> None:
    """After the bulk load, what a server reaches on its own before anyone measures: table
    statistics and visibility maps (autovacuum; SQLite only if asked, the app never runs
    ANALYZE), and no checkpoint of the load still writing in the background."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            for table in ("users", "generations", "images", "generation_inputs"):
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
            conn.exec_driver_sql("CHECKPOINT")
        else:
            if sqlite_analyze:
                conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def add_proposed_indexes(engine: Engine) -> None:
    with engine.begin() as conn:
        for ddl in PROPOSED_INDEXES.values():
            conn.exec_driver_sql(ddl)


# --------------------------------------------------------------------------- measuring


def _stats(samples: list[float]) -> dict[str, float | int]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "samples": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(ordered[-1], 3),
    }


def _measure(engine: Engine, calls: list[Callable[[Session], object]]) -> dict[str, float | int]:
    """Each call in its own read session, as a page does; then the same calls' statements
    replayed on a bare DB-API cursor (execute + fetchall): the database's share."""
    for call in calls[:5]:  # warm the connection pool and the statement caches
        with session_scope(engine, write=False) as session:
            call(session)
    samples = []
    for call in calls:
        start = time.perf_counter()
        with session_scope(engine, write=False) as session:
            call(session)
        samples.append((time.perf_counter() - start) * 1000)
    sql_samples = []
    raw = engine.raw_connection()
    if engine.dialect.name == "postgresql" and raw.driver_connection is not None:
        raw.driver_connection.autocommit = True  # as the app's read sessions run
    try:
        cursor = raw.cursor()
        for call in calls:
            statements = _capture(engine, call)
            start = time.perf_counter()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            sql_samples.append((time.perf_counter() - start) * 1000)
            raw.rollback()
        cursor.close()
    finally:
        raw.close()
    sql = {f"sql_{k}": v for k, v in _stats(sql_samples).items() if k != "samples"}
    return {**_stats(samples), **sql}


def _capture(engine: Engine, call: Callable[[Session], object]) -> list[tuple[str, Any]]:
    """The statements (and parameters) one call of a service sends. Prebuilt statements go
    through the driver's cursor (db.fetch_prebuilt), past SQLAlchemy's events: a call that
    uses one says which (`call.prebuilt`), and it is compiled the same way here."""
    prebuilt = getattr(call, "prebuilt", None)
    if prebuilt is not None:
        stmt, values = prebuilt
        sql, order, fixed = compiled_for(stmt, engine.dialect)
        params = {**fixed, **values}
        return [(sql, tuple(params[k] for k in order) if order else params)]
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with session_scope(engine, write=False) as session:
            call(session)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return [(s, p) for s, p in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def _plan_nodes(lines: list[str], *, sqlite: bool) -> list[str]:
    """The plan's steps: SQLite's rows as they are, PostgreSQL's nodes without the detail
    lines (conditions, buffers, sort methods) and without the timings."""
    if sqlite:
        return [line.strip() for line in lines]
    return [
        line.split(" (actual time=")[0].replace("->", "").strip()
        for line in lines
        if " (actual time=" in line
    ]


def explain(engine: Engine, name: str, call: Callable[[Session], object]) -> list[str]:
    """Print each statement's plan to stderr; return a one-line summary per statement."""
    summary = []
    for statement, parameters in _capture(engine, call):
        sqlite = engine.dialect.name == "sqlite"
        prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF, BUFFERS) "
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(prefix + statement, parameters)
            lines = [str(row[-1]) for row in cursor.fetchall()]
            cursor.close()
        finally:
            raw.close()
        _log(f"--- {engine.dialect.name} {name}\n{' '.join(statement.split())[:300]}")
        for line in lines:
            _log(f"    {line}")
        table = re.search(r"FROM (\w+)", statement)
        nodes = _plan_nodes(lines, sqlite=sqlite)
        summary.append(f"{table.group(1) if table else '?'}: {'; '.join(nodes)}")
    return summary


def measure(engine: Engine, data: DataSet, samples: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    ordinary = list(range(2, data.users + 1))
    heavy_ids = [i + 1 for i, u in enumerate(data.owner) if u == HEAVY_USER][::-1]

    def gallery(user_id: int, before_id: int | None = None) -> Callable[[Session], object]:
        def call(s: Session) -> object:
            return list_user_generations(
                s, user_id=user_id, base_url=BASE_URL, limit=24, before_id=before_id
            )

        up_to = before_id - 1 if before_id is not None else MAX_ROW_ID
        call.prebuilt = (_page_of(24), {"uid": user_id, "up_to": up_to})  # type: ignore[attr-defined]
        return call

    def search(user_id: int, query: str) -> Callable[[Session], object]:
        return lambda s: search_generations(s, user_id=user_id, query=query, limit=24)

    def explore(session: Session) -> object:
        return list_public_gallery(session, base_url=BASE_URL, limit=24)

    explore.prebuilt = (_first_page(24), {})  # type: ignore[attr-defined]

    out: dict[str, Any] = {}
    user = [rng.choice(ordinary) for _ in range(samples)]
    out["gallery_first_page"] = _measure(engine, [gallery(u) for u in user])
    out["gallery_first_page_heavy_user"] = _measure(engine, [gallery(HEAVY_USER)] * samples)
    # before_id = the 1000th newest id: exactly 1000 of the user's rows are newer (+0..49).
    out["gallery_depth_1000"] = _measure(
        engine, [gallery(HEAVY_USER, heavy_ids[999 + k % 50]) for k in range(samples)]
    )
    for label, queries, heavy_queries in (
        ("search_1_word", SEARCH_ONE_WORD, SEARCH_ONE_WORD_HEAVY),
        ("search_2_words", SEARCH_TWO_WORDS, SEARCH_TWO_WORDS_HEAVY),
        ("search_prefix", SEARCH_PREFIX, SEARCH_PREFIX),
    ):
        out[label] = _measure(engine, [search(u, rng.choice(queries)) for u in user])
        out[label + "_heavy_user"] = _measure(
            engine, [search(HEAVY_USER, rng.choice(heavy_queries)) for _ in user]
        )
    out["search_absent_word_heavy_user"] = _measure(
        engine, [search(HEAVY_USER, rng.choice(SEARCH_ABSENT_FOR_HEAVY_USER)) for _ in user]
    )
    out["explore_first_page"] = _measure(engine, [explore] * samples)

    out["matches_per_search"] = _match_counts(engine, rng, user[:20])
    plans = {
        "gallery_first_page": explain(engine, "gallery first page", gallery(user[0])),
        "gallery_depth_1000": explain(
            engine, "gallery depth 1000", gallery(HEAVY_USER, heavy_ids[999])
        ),
        "search_1_word": explain(engine, "search 1 word", search(user[0], "vase")),
        "search_2_words": explain(engine, "search 2 words", search(user[0], "marble vase")),
        "search_prefix_heavy_user": explain(engine, "search prefix", search(HEAVY_USER, "mar")),
        "search_absent_word_heavy_user": explain(
            engine, "search absent word", search(HEAVY_USER, SEARCH_ABSENT_FOR_HEAVY_USER[0])
        ),
        "explore_first_page": explain(engine, "explore first page", explore),
    }
    out["plans"] = plans
    return out


def _match_counts(engine: Engine, rng: random.Random, users: list[int]) -> dict[str, float]:
    """How selective the measured queries are: a user's matches (up to 100) per query kind."""
    counts: dict[str, float] = {}
    with session_scope(engine, write=False) as session:
        for label, queries in (
            ("1_word", SEARCH_ONE_WORD),
            ("2_words", SEARCH_TWO_WORDS),
            ("prefix", SEARCH_PREFIX),
        ):
            found = [
                len(search_generations(session, user_id=u, query=rng.choice(queries), limit=100))
                for u in users
            ]
            counts[label + "_mean_of_first_100"] = round(statistics.mean(found), 1)
    return counts


def _verdict(result: dict[str, Any]) -> dict[str, bool]:
    def ok(key: str, target: str) -> bool:
        return bool(result[key]["p99_ms"] <= TARGETS_P99_MS[target])

    return {
        "gallery_first_page": ok("gallery_first_page", "gallery"),
        "gallery_depth_1000": ok("gallery_depth_1000", "gallery"),
        "search": all(ok(k, "search") for k in result if k.startswith("search_")),
        "explore_first_page": ok("explore_first_page", "explore"),
    }


# --------------------------------------------------------------------------- main


def run(kind: str, tmp: Path, data: DataSet, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with empty_database(kind, tmp) as url:
        cfg = alembic_config(url)
        command.upgrade(cfg, "0003")
        start = time.perf_counter()
        if kind == "sqlite":
            load_sqlite(url.removeprefix("sqlite:///"), data)
        else:
            load_postgresql(url, data)
        result["load_s"] = round(time.perf_counter() - start, 1)
        _log(f"{kind}: loaded in {result['load_s']} s")
        start = time.perf_counter()
        command.upgrade(cfg, "head")
        result["migrate_head_s"] = round(time.perf_counter() - start, 1)
        _log(f"{kind}: migrated to head in {result['migrate_head_s']} s")
        engine = create_db_engine(url)
        try:
            if args.proposed_indexes:
                start = time.perf_counter()
                add_proposed_indexes(engine)
                result["proposed_indexes_s"] = round(time.perf_counter() - start, 1)
            start = time.perf_counter()
            settle(engine, sqlite_analyze=args.sqlite_analyze)
            result["settle_s"] = round(time.perf_counter() - start, 1)
            # Latency tails follow the machine's load: say what else was running.
            result["load_average_1m_before"] = round(os.getloadavg()[0], 2)
            result.update(measure(engine, data, args.samples, args.seed))
            result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
            result["targets_met"] = _verdict(result)
        finally:
            engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generations", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--heavy", type=int, default=30_000, help="the heavy user's share")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--kinds", default="sqlite,postgresql")
    parser.add_argument(
        "--proposed-indexes",
        action="store_true",
        help="add the indexes proposed for the models (PROPOSED_INDEXES) before measuring",
    )
    parser.add_argument(
        "--sqlite-analyze",
        action="store_true",
        help="run ANALYZE on SQLite first (the app never does; off by default)",
    )
    args = parser.parse_args()

    start = time.perf_counter()
    data = DataSet(generations=args.generations, users=args.users, heavy=args.heavy)
    results: dict[str, Any] = {
        "benchmark": "gallery_scale",
        "generations": args.generations,
        "users": args.users,
        "heavy_user_generations": data.owner.count(HEAVY_USER),
        "generated_images": "one per completed generation (~92%), ~5% of them featured",
        "product_images": args.users * PRODUCTS_PER_USER,
        "targets_p99_ms": TARGETS_P99_MS,
        "proposed_indexes": sorted(PROPOSED_INDEXES) if args.proposed_indexes else [],
        "cpus": os.cpu_count(),
    }
    kinds = [k for k in args.kinds.split(",") if k]
    if "postgresql" in kinds and not postgres_available():
        kinds.remove("postgresql")
        results["postgresql"] = "skipped: not reachable"
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            results[kind] = run(kind, Path(tmp), data, args)
    results["total_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
