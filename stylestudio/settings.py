"""All configuration, read once from the environment (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "dev-insecure-change-me"


class Settings(BaseSettings):
    """Every knob of Style Studio. Names match the environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    environment: Literal["development", "test", "production"] = Field(
        "development", alias="STYLESTUDIO_ENV"
    )
    data_dir: Path = Field(Path("data"), alias="STYLESTUDIO_DATA_DIR")
    database_url: str = Field("", alias="DATABASE_URL")
    redis_url: str = Field("", alias="REDIS_URL")
    secret_key: str = Field(DEVELOPMENT_SECRET_KEY, alias="STYLESTUDIO_SECRET_KEY")
    admin_emails: str = Field("", alias="STYLESTUDIO_ADMIN_EMAILS")
    generation_engine: Literal["local", "replicate"] = Field(
        "local", alias="STYLESTUDIO_GENERATION_ENGINE"
    )
    run_worker_in_app: bool = Field(True, alias="STYLESTUDIO_IN_PROCESS_WORKER")
    public_url: str = Field("http://localhost:3000", alias="STYLESTUDIO_PUBLIC_URL")
    api_url: str = Field("http://localhost:8000", alias="STYLESTUDIO_API_URL")
    session_days: int = Field(30, alias="STYLESTUDIO_SESSION_DAYS")
    payments: Literal["auto", "stripe", "test"] = Field("auto", alias="STYLESTUDIO_PAYMENTS")
    stripe_secret_key: str = Field("", alias="STRIPE_SECRET_KEY")
    # Comma-separated: during a rotation both the old and the new secret verify.
    stripe_webhook_secret: str = Field("", alias="STRIPE_WEBHOOK_SECRET")
    stripe_api_base: str = Field("https://api.stripe.com", alias="STRIPE_API_BASE")
    replicate_api_token: str = Field("", alias="REPLICATE_API_TOKEN")
    # The official client reads REPLICATE_BASE_URL too; a local server can stand in.
    replicate_base_url: str = Field("https://api.replicate.com", alias="REPLICATE_BASE_URL")
    replicate_model: str = Field("google/nano-banana", alias="REPLICATE_MODEL")
    # Offered beside REPLICATE_MODEL in the studio's `Model` choice (comma-separated).
    replicate_more_models: str = Field("", alias="REPLICATE_MORE_MODELS")
    # Empty: fetched once from Replicate's default-secret endpoint.
    replicate_webhook_secret: str = Field("", alias="REPLICATE_WEBHOOK_SECRET")
    # A publicly reachable address of this backend; set it and Replicate calls us back.
    webhook_base_url: str = Field("", alias="STYLESTUDIO_WEBHOOK_BASE_URL")
    generation_timeout_s: float = Field(300.0, gt=0, alias="STYLESTUDIO_GENERATION_TIMEOUT_S")
    worker_concurrency: int = Field(8, ge=1, le=256, alias="STYLESTUDIO_WORKER_CONCURRENCY")
    # A dead worker's jobs are taken over this long after its last heartbeat (every third).
    worker_lease_s: int = Field(30, ge=3, le=600, alias="STYLESTUDIO_WORKER_LEASE_S")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET_KEY:
            raise ValueError(
                "STYLESTUDIO_SECRET_KEY is still the development default; "
                "set a long random value before running in production"
            )
        if self.environment == "production" and len(self.secret_key) < 32:
            raise ValueError("STYLESTUDIO_SECRET_KEY must be at least 32 characters in production")
        if self.payments == "test" and self.environment == "production":
            raise ValueError("STYLESTUDIO_PAYMENTS=test takes no money: refused in production")
        if self.payments == "stripe" and not self.stripe_secret_key:
            raise ValueError("STYLESTUDIO_PAYMENTS=stripe needs STRIPE_SECRET_KEY")
        if self.generation_engine == "replicate" and not self.replicate_api_token:
            raise ValueError("STYLESTUDIO_GENERATION_ENGINE=replicate needs REPLICATE_API_TOKEN")
        return self

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or the embedded SQLite file under the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'stylestudio.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def payment_provider(self) -> Literal["stripe", "test", "none"]:
        """Which checkout runs: Stripe when configured, the offline test checkout otherwise
        — except in production, where a checkout that takes no money is never offered."""
        if self.payments == "stripe" or (self.payments == "auto" and self.stripe_secret_key):
            return "stripe"
        return "none" if self.environment == "production" else "test"

    @property
    def replicate_webhook_url(self) -> str | None:
        """Where Replicate sends completions, or None: then polling alone finds them."""
        base = self.webhook_base_url.strip().rstrip("/")
        return f"{base}/api/webhooks/replicate" if base else None

    @property
    def stripe_webhook_secrets(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.stripe_webhook_secret.split(",") if s.strip())

    @property
    def admin_email_set(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.admin_emails.split(",") if e.strip())


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache after changing env)."""
    return Settings()
