"""All configuration, read once from the environment (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse as parse_rate
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "dev-insecure-change-me"
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"


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
    # None: required in production only (see verified_email_required).
    require_verified_email: bool | None = Field(None, alias="STYLESTUDIO_REQUIRE_VERIFIED_EMAIL")
    generation_engine: Literal["local", "replicate"] = Field(
        "local", alias="STYLESTUDIO_GENERATION_ENGINE"
    )
    run_worker_in_app: bool = Field(True, alias="STYLESTUDIO_IN_PROCESS_WORKER")
    # `stylestudio serve --prod`: Reflex backend processes (sharing REDIS_URL) and separate
    # generation worker processes (0: none here, e.g. when they run as their own service),
    # and the one address the app is served on (behind a TLS proxy: 127.0.0.1).
    web_processes: int = Field(2, ge=1, le=64, alias="STYLESTUDIO_WEB_PROCESSES")
    worker_processes: int = Field(2, ge=0, le=64, alias="STYLESTUDIO_WORKER_PROCESSES")
    # How long a backend process keeps a tab's state after an event (Reflex's opportunistic
    # lock on the Redis state manager): the tab's next events within it are answered from
    # memory, with no Redis round trip; another process that needs the tab (an upload, a
    # reconnect) asks for it back at once. 0 reads and writes Redis on every event. A process
    # killed with -9 loses at most this much of its tabs' page state (never anything in the
    # database), and its tabs wait for Redis to expire its lock before they carry on.
    state_lease_ms: int = Field(5000, ge=0, le=9000, alias="STYLESTUDIO_STATE_LEASE_MS")
    # Under the lease, write each event's changes to Redis when the event ends (one write):
    # a process killed with -9 then loses nothing an event finished. False: only when the
    # lease ends (Reflex's own behaviour; cheaper, and a killed process loses up to a lease).
    state_write_through: bool = Field(True, alias="STYLESTUDIO_STATE_WRITE_THROUGH")
    # REST API keys a user may hold at once (revoked ones do not count).
    api_keys_per_user: int = Field(10, ge=1, le=100, alias="STYLESTUDIO_API_KEYS_PER_USER")
    bind_host: str = Field("127.0.0.1", alias="STYLESTUDIO_HOST")
    port: int = Field(8000, ge=1, le=65535, alias="STYLESTUDIO_PORT")
    # Reverse proxies in front of the app that append to X-Forwarded-For (a TLS proxy: 1).
    # 0 ignores the header, which any client can write; then every visitor behind a proxy
    # has the proxy's address (and shares its per-address sign-in and sign-up limits).
    trusted_proxy_hops: int = Field(0, ge=0, le=10, alias="STYLESTUDIO_TRUSTED_PROXY_HOPS")
    # Media: files under <data_dir>/media, or objects in a private S3-compatible bucket.
    # S3 credentials come from boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
    # AWS_PROFILE, an instance role), never from here.
    storage: Literal["local", "s3"] = Field("local", alias="STYLESTUDIO_STORAGE")
    s3_bucket: str = Field("", alias="STYLESTUDIO_S3_BUCKET")
    s3_prefix: str = Field("", alias="STYLESTUDIO_S3_PREFIX")  # e.g. `media/`; "" = whole bucket
    # MinIO, R2 and other S3-compatible stores; empty for AWS S3.
    s3_endpoint_url: str = Field("", alias="STYLESTUDIO_S3_ENDPOINT_URL")
    s3_region: str = Field("", alias="STYLESTUDIO_S3_REGION")  # empty: boto3's (AWS_REGION)
    # auto: path-style with an endpoint URL (MinIO), virtual-hosted on AWS.
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", alias="STYLESTUDIO_S3_ADDRESSING_STYLE"
    )
    public_url: str = Field("http://localhost:3000", alias="STYLESTUDIO_PUBLIC_URL")
    api_url: str = Field("http://localhost:8000", alias="STYLESTUDIO_API_URL")
    session_days: int = Field(30, alias="STYLESTUDIO_SESSION_DAYS")
    # Log lines as text or one JSON object each; None: JSON in production, text elsewhere.
    log_format: Literal["text", "json"] | None = Field(None, alias="STYLESTUDIO_LOG_FORMAT")
    # When set, GET /api/metrics answers only `Authorization: Bearer <it>`. (Several backend
    # processes share their metrics when PROMETHEUS_MULTIPROC_DIR is set in the environment:
    # prometheus-client reads it itself, at import, so it is not a setting of ours.)
    metrics_token: str = Field("", alias="STYLESTUDIO_METRICS_TOKEN")
    # Email: smtp://user:pass@host:port (add ?starttls=1 to upgrade) or smtps:// (implicit
    # TLS). Empty: development writes each mail to <data_dir>/outbox; production cannot send.
    smtp_url: str = Field("", alias="SMTP_URL")
    mail_from: str = Field("Style Studio <no-reply@localhost>", alias="STYLESTUDIO_MAIL_FROM")
    # Rate limits, in the `limits` notation ("10/15 minutes", "30 per minute"); counted in
    # REDIS_URL when set (shared by every process), else in each process's memory.
    rate_limits_enabled: bool = Field(True, alias="STYLESTUDIO_RATE_LIMITS_ENABLED")
    limit_sign_in_account: str = Field("10/15 minutes", alias="STYLESTUDIO_LIMIT_SIGN_IN_ACCOUNT")
    limit_sign_in_address: str = Field("30/15 minutes", alias="STYLESTUDIO_LIMIT_SIGN_IN_ADDRESS")
    limit_sign_up_address: str = Field("10/hour", alias="STYLESTUDIO_LIMIT_SIGN_UP_ADDRESS")
    limit_password_reset_account: str = Field(
        "5/hour", alias="STYLESTUDIO_LIMIT_PASSWORD_RESET_ACCOUNT"
    )
    limit_password_reset_address: str = Field(
        "20/hour", alias="STYLESTUDIO_LIMIT_PASSWORD_RESET_ADDRESS"
    )
    limit_verification_email_user: str = Field(
        "5/hour", alias="STYLESTUDIO_LIMIT_VERIFICATION_EMAIL_USER"
    )
    limit_generation_user: str = Field("30/minute", alias="STYLESTUDIO_LIMIT_GENERATION_USER")
    limit_api_key: str = Field("120/minute", alias="STYLESTUDIO_LIMIT_API_KEY")
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
    # Outgoing webhooks (services/integrations): endpoints a user may register, and whether
    # they may point at private, loopback or link-local addresses in production (refused by
    # default: a server-side request forgery; a self-hosted setup on one network may allow it).
    webhook_endpoints_per_user: int = Field(
        5, ge=1, le=50, alias="STYLESTUDIO_WEBHOOK_ENDPOINTS_PER_USER"
    )
    webhooks_allow_private: bool = Field(False, alias="STYLESTUDIO_WEBHOOKS_ALLOW_PRIVATE")
    # Watching tabs are woken by pushed status changes; each backend process also re-reads
    # the statuses of everything watched this often, so a lost notification never sticks.
    status_recheck_s: float = Field(15.0, gt=0, alias="STYLESTUDIO_STATUS_RECHECK_S")
    # SQLite only: how often each process asks whether another process (a separate
    # `stylestudio worker`) committed (PRAGMA data_version; reads no table).
    status_probe_s: float = Field(0.5, gt=0, alias="STYLESTUDIO_STATUS_PROBE_S")
    # Sign-in with a provider: each is offered only when its client id and secret are set.
    google_client_id: str = Field("", alias="GOOGLE_CLIENT_ID")
    google_client_secret: str = Field("", alias="GOOGLE_CLIENT_SECRET")
    # Another OpenID Connect issuer may stand in for Google (tests).
    google_discovery_url: str = Field(GOOGLE_DISCOVERY_URL, alias="GOOGLE_DISCOVERY_URL")
    github_client_id: str = Field("", alias="GITHUB_CLIENT_ID")
    github_client_secret: str = Field("", alias="GITHUB_CLIENT_SECRET")
    github_base_url: str = Field("https://github.com", alias="GITHUB_BASE_URL")
    github_api_url: str = Field("https://api.github.com", alias="GITHUB_API_URL")
    # Any OpenID Connect issuer, found at <issuer>/.well-known/openid-configuration.
    oidc_issuer_url: str = Field("", alias="OIDC_ISSUER_URL")
    oidc_client_id: str = Field("", alias="OIDC_CLIENT_ID")
    oidc_client_secret: str = Field("", alias="OIDC_CLIENT_SECRET")
    oidc_name: str = Field("Single sign-on", alias="OIDC_NAME")  # its button's label

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                raise ValueError("SMTP_URL must look like smtp://user:pass@host:587?starttls=1")
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _check_s3_endpoint(cls, value: str) -> str:
        if value and (
            urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc
        ):
            raise ValueError(
                "STYLESTUDIO_S3_ENDPOINT_URL must look like https://minio.example:9000"
            )
        return value

    @field_validator(
        "limit_sign_in_account",
        "limit_sign_in_address",
        "limit_sign_up_address",
        "limit_password_reset_account",
        "limit_password_reset_address",
        "limit_verification_email_user",
        "limit_generation_user",
        "limit_api_key",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        parse_rate(value)  # ValueError names the string it could not read
        return value

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
        if self.storage == "s3" and not self.s3_bucket.strip():
            raise ValueError("STYLESTUDIO_STORAGE=s3 needs STYLESTUDIO_S3_BUCKET")
        return self

    @property
    def effective_database_url(self) -> str:
        """DATABASE_URL, or the embedded SQLite file under the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'stylestudio.db').resolve()}"

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The visitor's address: the peer's, or behind `trusted_proxy_hops` proxies the one
        the outermost trusted proxy saw (X-Forwarded-For, counted from the right as Reflex
        does for the websocket)."""
        if self.trusted_proxy_hops and forwarded_for:
            hops = [ip.strip() for ip in forwarded_for.split(",") if ip.strip()]
            if len(hops) >= self.trusted_proxy_hops:
                return hops[-self.trusted_proxy_hops]
        return peer

    @property
    def effective_log_format(self) -> Literal["text", "json"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.environment == "production" else "text"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def outbox_dir(self) -> Path:
        """Where development mail goes when no SMTP_URL is set (one .eml file each)."""
        return self.data_dir / "outbox"

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
    def verified_email_required(self) -> bool:
        """Whether free-trial credits and publishing wait for a verified email: in production
        unless STYLESTUDIO_REQUIRE_VERIFIED_EMAIL says otherwise; elsewhere only if it says so."""
        if self.require_verified_email is not None:
            return self.require_verified_email
        return self.environment == "production"

    @property
    def admin_email_set(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.admin_emails.split(",") if e.strip())


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache after changing env)."""
    return Settings()
