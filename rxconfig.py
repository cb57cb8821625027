"""Reflex configuration, derived from Style Studio's settings and nothing else."""

from pathlib import Path

import reflex as rx

from stylestudio.settings import get_settings

settings = get_settings()
_bun = Path(__file__).parent / ".tools" / "node_modules" / "bun" / "bin" / "bun.exe"
_extra = {"bun_path": _bun} if _bun.exists() else {}

config = rx.Config(
    app_name="stylestudio",
    # None: Reflex's own database layer (rx.Model, `reflex db ...`) is unused; the app's
    # engines are stylestudio.db's and its schema is Alembic's (`stylestudio migrate`).
    # With a URL here Reflex compares the models with the database at every start and
    # tells you to "Run reflex db makemigrations" (over the full-text-search tables that
    # only a migration creates), which is wrong advice for this project.
    db_url=None,
    redis_url=settings.redis_url or None,
    api_url=settings.api_url,
    deploy_url=settings.public_url,
    cors_allowed_origins=[settings.public_url],
    # Behind a TLS proxy: the visitor's address from X-Forwarded-For (rate limits by address).
    trusted_proxy_hops=settings.trusted_proxy_hops,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    disable_plugins=[rx.plugins.SitemapPlugin],
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(
                appearance="light", accent_color="violet", gray_color="slate", radius="medium"
            )
        )
    ],
    **_extra,
)
