"""Which checkout runs, by configuration alone; the test checkout never in production."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stylestudio.settings import Settings

PRODUCTION_KEY = "k" * 40


def _settings(**env: str) -> Settings:
    values: dict[str, Any] = {"_env_file": None, **env}
    return Settings(**values)


def test_no_keys_means_the_offline_test_checkout() -> None:
    assert _settings().payment_provider == "test"


def test_a_stripe_key_switches_to_stripe() -> None:
    assert _settings(STRIPE_SECRET_KEY="sk_test_x").payment_provider == "stripe"


def test_production_without_stripe_offers_no_checkout() -> None:
    settings = _settings(STYLESTUDIO_ENV="production", STYLESTUDIO_SECRET_KEY=PRODUCTION_KEY)
    assert settings.payment_provider == "none"


def test_the_test_checkout_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="refused in production"):
        _settings(
            STYLESTUDIO_ENV="production",
            STYLESTUDIO_SECRET_KEY=PRODUCTION_KEY,
            STYLESTUDIO_PAYMENTS="test",
        )


def test_stripe_without_a_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs STRIPE_SECRET_KEY"):
        _settings(STYLESTUDIO_PAYMENTS="stripe")


def test_several_webhook_secrets_for_rotation() -> None:
    settings = _settings(STRIPE_WEBHOOK_SECRET=" whsec_new , whsec_old,")
    assert settings.stripe_webhook_secrets == ("whsec_new", "whsec_old")
