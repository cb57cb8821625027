"""Builds the configured adapters once per process (storage, generation engine)."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from stylestudio.adapters.generation_engine import GenerationEngine, ModelSpec
from stylestudio.adapters.payments import CheckoutProvider, StripeCheckout
from stylestudio.adapters.replicate_engine import PredictionEngine
from stylestudio.adapters.storage import LocalStorage, MediaStorage
from stylestudio.adapters.test_checkout import TestCheckout
from stylestudio.db import get_engine
from stylestudio.services.generation.generation_work import Options
from stylestudio.settings import get_settings


@lru_cache
def get_storage() -> MediaStorage:
    """Local files under the data folder, or the S3 bucket (one client per process)."""
    settings = get_settings()
    if settings.storage == "s3":
        from stylestudio.adapters.s3_storage import S3Storage, s3_client

        client = s3_client(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            addressing_style=settings.s3_addressing_style,
            # The worker's jobs and the web process's media threads share it.
            max_connections=max(32, 2 * settings.worker_concurrency),
        )
        return S3Storage(
            client=client, bucket=settings.s3_bucket.strip(), prefix=settings.s3_prefix
        )
    return LocalStorage(settings.media_dir)


@lru_cache
def get_generation_engine() -> GenerationEngine | PredictionEngine:
    settings = get_settings()
    if settings.generation_engine == "replicate":
        return get_prediction_engine()  # type: ignore[return-value]
    from stylestudio.adapters.local_engine.engine import LocalEngine

    return LocalEngine()


def available_models() -> tuple[ModelSpec, ...]:
    """The models the configured engine offers, its default first."""
    return get_generation_engine().models


@lru_cache
def get_prediction_engine() -> PredictionEngine | None:
    """Replicate when it is the configured engine (webhooks, cancels and the sweeper need it
    in the web process too), else None."""
    settings = get_settings()
    if settings.generation_engine != "replicate":
        return None
    from stylestudio.adapters.replicate_engine import ReplicateEngine

    return ReplicateEngine(
        api_token=settings.replicate_api_token,
        base_url=settings.replicate_base_url,
        model=settings.replicate_model,
        more_models=tuple(
            m.strip()
            for m in settings.replicate_more_models.split(",")
            if m.strip() and m.strip() != settings.replicate_model
        ),
        webhook_secret=settings.replicate_webhook_secret,
    )


def worker_options() -> Options:
    settings = get_settings()
    return Options(
        timeout_s=settings.generation_timeout_s, webhook_url=settings.replicate_webhook_url
    )


@lru_cache
def get_checkout_provider() -> CheckoutProvider | None:
    """The configured checkout, or None when payments are not configured (production
    without Stripe keys: the test checkout takes no money, so it is never offered there)."""
    settings = get_settings()
    if settings.payment_provider == "stripe":
        return StripeCheckout(api_key=settings.stripe_secret_key, api_base=settings.stripe_api_base)
    if settings.payment_provider == "test":
        return get_test_checkout()
    return None


def payments_configured() -> bool:
    """Whether packs can be bought here (`get_checkout_provider` is not None)."""
    return get_settings().payment_provider in ("stripe", "test")


def offers_test_checkout() -> bool:
    """Whether the offline test checkout is the provider (`get_test_checkout` is not None)."""
    return get_settings().payment_provider == "test"


@lru_cache
def get_test_checkout() -> TestCheckout | None:
    settings = get_settings()
    if settings.payment_provider != "test":
        return None
    return TestCheckout(
        db=get_engine(),
        public_url=settings.public_url,
        webhook_url=f"{settings.api_url.rstrip('/')}/api/webhooks/stripe",
        secret=offline_checkout_secret(),
    )


def webhook_secrets() -> tuple[str, ...]:
    """The secrets that may sign a delivery to /api/webhooks/stripe."""
    settings = get_settings()
    if settings.payment_provider == "stripe":
        return settings.stripe_webhook_secrets
    if settings.payment_provider == "test":
        return (offline_checkout_secret(),)
    return ()


def offline_checkout_secret() -> str:
    """The test checkout's own signing secret, derived from the secret key (never Stripe's)."""
    key = get_settings().secret_key.encode()
    return "whsec_test_" + hmac.new(key, b"stylestudio test checkout", hashlib.sha256).hexdigest()


def reset() -> None:
    """Forget cached adapters (tests that change settings call this)."""
    get_storage.cache_clear()
    get_generation_engine.cache_clear()
    get_prediction_engine.cache_clear()
    get_checkout_provider.cache_clear()
    get_test_checkout.cache_clear()
