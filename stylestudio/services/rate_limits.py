"""Rate limits: named rules checked with one call at each entrypoint.

Counts live in Redis when REDIS_URL is set, so a limit holds across every web process and
worker; otherwise in this process's memory (one process: development, tests). Each rule is
a moving window ("10 in any 15 minutes"), so there is no window edge to burst across.

Identifiers (emails, addresses, user ids) are stored only as hashes: the Redis keys reveal
neither who signed in nor from where.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from enum import StrEnum
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from stylestudio.services.errors import InvalidCredentialsError, RateLimitedError
from stylestudio.settings import Settings, get_settings

logger = logging.getLogger(__name__)

MEMORY_STORAGE = "memory://"
# A rate limit must never hang a request: a Redis that does not answer within this is
# treated as down (see RateLimiter.hit).
_REDIS_TIMEOUT_S = 1.0


class Rule(StrEnum):
    """What is counted, and per what."""

    SIGN_IN_ACCOUNT = "sign_in_account"  # failed password sign-ins per email address
    SIGN_IN_ADDRESS = "sign_in_address"  # failed password sign-ins per client address
    SIGN_UP_ADDRESS = "sign_up_address"  # sign-up attempts per client address
    PASSWORD_RESET_ACCOUNT = "password_reset_account"  # reset requests per email address
    PASSWORD_RESET_ADDRESS = "password_reset_address"  # reset requests per client address
    VERIFICATION_EMAIL_USER = "verification_email_user"  # verification emails per user
    GENERATION_USER = "generation_user"  # generations started per user
    API_KEY = "api_key"  # REST API requests per key


def _rate_field(rule: Rule) -> str:
    return f"limit_{rule.value}"  # STYLESTUDIO_LIMIT_<RULE> in the environment


# The settings' defaults, for limiters built without settings (tests).
DEFAULT_RATES: Mapping[Rule, str] = {
    rule: str(Settings.model_fields[_rate_field(rule)].default) for rule in Rule
}

_MESSAGES: Mapping[Rule, str] = {
    Rule.SIGN_IN_ACCOUNT: "Too many sign-in attempts. Try again in {wait}.",
    Rule.SIGN_IN_ADDRESS: "Too many sign-in attempts. Try again in {wait}.",
    Rule.SIGN_UP_ADDRESS: "Too many sign-ups from your network. Try again in {wait}.",
    Rule.PASSWORD_RESET_ACCOUNT: "Too many password reset requests. Try again in {wait}.",
    Rule.PASSWORD_RESET_ADDRESS: "Too many password reset requests. Try again in {wait}.",
    Rule.VERIFICATION_EMAIL_USER: "Too many verification emails. Try again in {wait}.",
    Rule.GENERATION_USER: "You are starting generations too quickly. Try again in {wait}.",
    Rule.API_KEY: "Too many requests with this API key. Try again in {wait}.",
}


def rates_from_settings(settings: Settings) -> dict[Rule, str]:
    """Every rule's rate as configured (STYLESTUDIO_LIMIT_*)."""
    return {rule: getattr(settings, _rate_field(rule)) for rule in Rule}


class RateLimiter:
    """The rules, counted in one storage (`memory://` or a `redis://` URL).

    Two limiters on the same Redis URL and key prefix share their counts, as two processes
    of the app do. `enabled=False` counts nothing and never limits.
    """

    def __init__(
        self,
        storage_uri: str = MEMORY_STORAGE,
        *,
        rates: Mapping[Rule, str] | None = None,
        key_prefix: str = "stylestudio",
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._items: dict[Rule, RateLimitItem] = {
            rule: parse(rate) for rule, rate in {**DEFAULT_RATES, **(rates or {})}.items()
        }
        options: dict[str, float | str | bool] = {"wrap_exceptions": True}
        if not storage_uri.startswith("memory"):
            options.update(
                key_prefix=key_prefix,
                socket_timeout=_REDIS_TIMEOUT_S,
                socket_connect_timeout=_REDIS_TIMEOUT_S,
            )
        self._strategy = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))

    @classmethod
    def from_settings(cls, settings: Settings, *, key_prefix: str = "stylestudio") -> RateLimiter:
        """Redis when REDIS_URL is set, memory otherwise; the rates of the settings."""
        return cls(
            settings.redis_url or MEMORY_STORAGE,
            rates=rates_from_settings(settings),
            key_prefix=key_prefix,
            enabled=settings.rate_limits_enabled,
        )

    # The building blocks: one rule, one key.

    def hit(self, rule: Rule, *keys: object, cost: int = 1) -> None:
        """Count `cost` against `rule` for `keys`, or raise RateLimitedError (counting
        nothing) when that would go over the limit.

        If the storage fails (Redis down) the request is let through and the failure logged:
        a limit is a defence in depth, not a reason to refuse every sign-in.
        """
        if not self.enabled:
            return
        item, ids = self._items[rule], _identifiers(rule, keys)
        try:
            allowed = self._strategy.hit(item, *ids, cost=cost)
        except StorageError:
            logger.exception("Rate limit storage failed; %s not enforced", rule.value)
            return
        if not allowed:
            raise self._limited(rule, item, ids)

    def check(self, rule: Rule, *keys: object) -> None:
        """Raise RateLimitedError if `rule` is used up for `keys`; count nothing."""
        if not self.enabled:
            return
        item, ids = self._items[rule], _identifiers(rule, keys)
        try:
            allowed = self._strategy.test(item, *ids)
        except StorageError:
            logger.exception("Rate limit storage failed; %s not enforced", rule.value)
            return
        if not allowed:
            raise self._limited(rule, item, ids)

    def reset(self, rule: Rule, *keys: object) -> None:
        """Forget what `rule` counted for `keys`."""
        if not self.enabled:
            return
        try:
            self._strategy.clear(self._items[rule], *_identifiers(rule, keys))
        except StorageError:
            logger.exception("Rate limit storage failed; %s not reset", rule.value)

    # One call per entrypoint.

    @contextmanager
    def sign_in_attempt(self, *, email: object, ip_address: str | None) -> Iterator[None]:
        """Wrap one password sign-in (`accounts.sign_in`).

        Counts failures: per email address (10 in 15 minutes by default) and per client
        address (30). The account's count is taken before the password is checked, so
        concurrent guesses cannot overshoot, and cleared by a successful sign-in; while the
        limit holds, even the right password is refused (RateLimitedError), without hashing.
        The address's count is not cleared by a success: signing in to one's own account
        must not buy more guesses at others'. Unknown emails are counted like known ones,
        so the limit does not reveal which addresses have accounts.
        """
        account = _email_key(email)
        if ip_address:
            self.check(Rule.SIGN_IN_ADDRESS, ip_address)
        self.hit(Rule.SIGN_IN_ACCOUNT, account)
        try:
            yield
        except InvalidCredentialsError:
            if ip_address:
                # This attempt has its answer; the next one from there is refused.
                with suppress(RateLimitedError):
                    self.hit(Rule.SIGN_IN_ADDRESS, ip_address)
            raise
        self.reset(Rule.SIGN_IN_ACCOUNT, account)

    def sign_up(self, *, ip_address: str | None) -> None:
        """Count a sign-up attempt from `ip_address` (10 an hour by default), successful or
        not: each account gets free-trial credits, and a refused address (taken) is an
        answer too."""
        if ip_address:
            self.hit(Rule.SIGN_UP_ADDRESS, ip_address)

    def password_reset_request(self, *, email: object, ip_address: str | None) -> None:
        """Count a password reset request: per email address (5 an hour), known or not,
        and per client address (20 an hour)."""
        if ip_address:
            self.hit(Rule.PASSWORD_RESET_ADDRESS, ip_address)
        self.hit(Rule.PASSWORD_RESET_ACCOUNT, _email_key(email))

    def verification_email(self, *, user_id: int) -> None:
        """Count a verification email sent to a user's address (5 an hour)."""
        self.hit(Rule.VERIFICATION_EMAIL_USER, user_id)

    def generation_start(self, *, user_id: int, generations: int = 1) -> None:
        """Count the generations a user starts (a batch of five styles is five; 30 a
        minute by default)."""
        self.hit(Rule.GENERATION_USER, user_id, cost=max(1, generations))

    def api_request(self, *, key_id: int) -> None:
        """Count one REST API request made with a key (120 a minute by default); the
        generations it starts count against the user's generation limit as well."""
        self.hit(Rule.API_KEY, key_id)

    def _limited(self, rule: Rule, item: RateLimitItem, ids: list[str]) -> RateLimitedError:
        try:
            reset_at = self._strategy.get_window_stats(item, *ids).reset_time
        except StorageError:
            reset_at = time.time() + item.get_expiry()
        retry_after_s = max(1, math.ceil(reset_at - time.time()))
        message = _MESSAGES[rule].format(wait=describe_wait(retry_after_s))
        return RateLimitedError(message, retry_after_s=retry_after_s)


def describe_wait(seconds: int) -> str:
    """How long to wait, in words: 42 seconds, 1 minute, 15 minutes, 3 hours (rounded up)."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 2 * 3600:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{math.ceil(seconds / 3600)} hours"


def _email_key(email: object) -> str:
    # Not accounts.normalize_email: malformed input is counted too, and never an error here.
    return email[:400].strip().lower() if isinstance(email, str) else ""


def _identifiers(rule: Rule, keys: tuple[object, ...]) -> list[str]:
    digest = hashlib.sha256("\x1f".join(str(k) for k in keys).encode()).hexdigest()
    return [rule.value, digest[:32]]


@lru_cache
def get_limiter() -> RateLimiter:
    """The process's limiter, built from settings once (tests use `RateLimiter(...)`)."""
    return RateLimiter.from_settings(get_settings())
