"""Signed, expiring media URLs: the signature binds the exact key, the app's secret and a
time window; URLs are stable within a 10-minute bucket. The clock is passed in: no sleeping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from stylestudio.services.media.media import (
    MEDIA_URL_BUCKET_S,
    MEDIA_URL_LIFETIME_S,
    media_url,
    sign_media_key,
    verify_media_signature,
)
from stylestudio.settings import get_settings

KEY = "product/7/0123456789abcdef0123456789abcdef.jpg"
T0 = 1_700_000_400.0  # a multiple of 600: the start of a bucket


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STYLESTUDIO_SECRET_KEY", "unit-test-secret-" + "x" * 32)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _sig(url: str) -> str:
    [sig] = parse_qs(urlsplit(url).query)["sig"]
    return sig


def test_media_url_carries_a_signature_of_its_key() -> None:
    url = media_url(KEY, base_url="http://api.example/", now=T0)
    assert url.startswith(f"http://api.example/api/media/{KEY}?sig=")
    assert verify_media_signature(KEY, _sig(url), now=T0)
    assert media_url(None, base_url="http://api.example") == ""
    assert media_url("", base_url="http://api.example") == ""


def test_the_url_is_stable_within_a_bucket_and_changes_after() -> None:
    first = media_url(KEY, base_url="http://x", now=T0)
    assert media_url(KEY, base_url="http://x", now=T0 + MEDIA_URL_BUCKET_S - 1) == first
    assert media_url(KEY, base_url="http://x", now=T0 + MEDIA_URL_BUCKET_S) != first


@pytest.mark.parametrize("issued_after_bucket_start", [0, MEDIA_URL_BUCKET_S - 1])
def test_a_signature_is_valid_for_the_lifetime_and_at_most_one_bucket_more(
    issued_after_bucket_start: int,
) -> None:
    issued = T0 + issued_after_bucket_start
    token = sign_media_key(KEY, now=issued)
    window_end = T0 + MEDIA_URL_LIFETIME_S + MEDIA_URL_BUCKET_S
    assert verify_media_signature(KEY, token, now=issued)
    # At least the lifetime after it was issued, whenever in its bucket that was...
    assert verify_media_signature(KEY, token, now=issued + MEDIA_URL_LIFETIME_S)
    assert verify_media_signature(KEY, token, now=window_end)
    # ...and never past the bucket's start + lifetime + one bucket.
    assert not verify_media_signature(KEY, token, now=window_end + 1)
    assert not verify_media_signature(KEY, token, now=issued + 3 * 3600)


def test_a_shorter_lifetime_is_honoured_by_the_verifier() -> None:
    token = sign_media_key(KEY, expires_in=60, now=T0)
    assert verify_media_signature(KEY, token, now=T0 + 60 + MEDIA_URL_BUCKET_S)
    assert not verify_media_signature(KEY, token, now=T0 + 61 + MEDIA_URL_BUCKET_S)
    # The lifetime is signed: raising it in the token breaks the signature.
    lifetime, rest = token.split(".", 1)
    assert lifetime == "60"
    assert not verify_media_signature(KEY, f"{MEDIA_URL_LIFETIME_S}.{rest}", now=T0 + 1200)


def test_a_signature_from_the_future_is_refused() -> None:
    token = sign_media_key(KEY, now=T0 + 3 * MEDIA_URL_BUCKET_S)
    assert not verify_media_signature(KEY, token, now=T0)


@pytest.mark.parametrize(
    "other_key",
    [
        "product/7/0123456789abcdef0123456789abcdef.png",
        "product/8/0123456789abcdef0123456789abcdef.jpg",
        "product/7/0123456789abcdef0123456789abcdef.thumb.jpg",
        "product/7/0123456789abcdef0123456789abcdef.jpg.3600",
        "product/7/0123456789abcdef0123456789abcdef",
        f"{KEY}/",
        KEY.upper(),
    ],
)
def test_a_signature_is_for_one_key_only(other_key: str) -> None:
    assert not verify_media_signature(other_key, sign_media_key(KEY, now=T0), now=T0)


def test_a_key_that_ends_like_a_lifetime_cannot_borrow_a_signature() -> None:
    # "a.jpg" with lifetime 3600 signs "a.jpg.3600"; key "a" with a token "jpg.3600.…" must fail.
    token = sign_media_key("a.jpg", now=T0)
    assert not verify_media_signature("a", f"jpg.{token}", now=T0)
    assert not verify_media_signature("a.jpg.3600", token.split(".", 1)[1], now=T0)


def _flip(part: str) -> str:
    return ("B" if part[0] == "A" else "A") + part[1:]


def _flip_first_signature_character(token: str) -> str:
    head, sig = token.rsplit(".", 1)
    return f"{head}.{_flip(sig)}"


@pytest.mark.parametrize(
    "mangle",
    [
        _flip_first_signature_character,
        lambda t: t.split(".")[0] + "." + _flip(t.split(".")[1]) + "." + t.split(".")[2],
        lambda t: t.rsplit(".", 1)[0],  # no signature
        lambda t: t + ".extra",
        lambda t: "",
        lambda t: "3600",
        lambda t: "0." + t.split(".", 1)[1],
        lambda t: "99999999." + t.split(".", 1)[1],
        lambda t: "-1." + t.split(".", 1)[1],
        lambda t: t.replace(".", ":"),
        lambda t: t + "\n",
        lambda t: "ｓ" + t,  # not ASCII
    ],
)
def test_a_tampered_signature_is_refused(mangle: Callable[[str], str]) -> None:
    token = sign_media_key(KEY, now=T0)
    assert not verify_media_signature(KEY, mangle(token), now=T0)


def test_a_missing_signature_is_refused() -> None:
    assert not verify_media_signature(KEY, None, now=T0)
    assert not verify_media_signature(KEY, "", now=T0)


def test_another_secret_does_not_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    token = sign_media_key(KEY, now=T0)
    monkeypatch.setenv("STYLESTUDIO_SECRET_KEY", "another-secret-" + "y" * 32)
    get_settings.cache_clear()
    assert not verify_media_signature(KEY, token, now=T0)
    assert verify_media_signature(KEY, sign_media_key(KEY, now=T0), now=T0)


@pytest.mark.parametrize("expires_in", [0, -5, 8 * 24 * 3600])
def test_unreasonable_lifetimes_are_refused_when_signing(expires_in: int) -> None:
    with pytest.raises(ValueError):
        sign_media_key(KEY, expires_in=expires_in, now=T0)
