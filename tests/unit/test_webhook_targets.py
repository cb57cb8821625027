"""Where outgoing webhooks may go: address classes, and a production delivery pinned to the
address that was checked (Host and TLS name kept)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stylestudio.services.errors import ValidationError
from stylestudio.services.integrations.webhook_targets import (
    WebhookTargetRefused,
    parse_webhook_url,
    pinned_request,
    refusal_reason,
)
from stylestudio.settings import get_settings


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("STYLESTUDIO_ENV", "production")
    monkeypatch.setenv("STYLESTUDIO_SECRET_KEY", "p" * 40)
    monkeypatch.setenv("STYLESTUDIO_WEBHOOKS_ALLOW_PRIVATE", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:10.1.2.3", "a private address"),
        ("10.0.0.5", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "a non-public address"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_classes(address: str, reason: str | None) -> None:
    assert refusal_reason(address) == reason


def test_production_connects_to_the_checked_address_under_the_hosts_name(
    production: None,
) -> None:
    pinned = pinned_request(
        "https://hooks.example.com:8443/in?x=1", resolve=lambda h, p: ["93.184.216.34"]
    )
    assert pinned.url == "https://93.184.216.34:8443/in?x=1"
    assert pinned.headers == {"Host": "hooks.example.com:8443"}
    assert pinned.extensions == {"sni_hostname": "hooks.example.com"}
    six = pinned_request("https://hooks.example.com/in", resolve=lambda h, p: ["2606:4700::1111"])
    assert six.url == "https://[2606:4700::1111]/in"


def test_production_refuses_when_any_address_is_private(production: None) -> None:
    with pytest.raises(WebhookTargetRefused, match="private"):
        pinned_request(
            "https://mixed.example/in", resolve=lambda h, p: ["93.184.216.34", "10.0.0.1"]
        )
    with pytest.raises(ValidationError, match="https"):
        pinned_request("http://hooks.example.com/in", resolve=lambda h, p: ["93.184.216.34"])


def test_development_sends_to_the_url_as_it_is() -> None:
    get_settings.cache_clear()
    assert pinned_request("http://127.0.0.1:9300/hook").url == "http://127.0.0.1:9300/hook"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "https://example.com/#x",
        "https://:80/",
        "https://example.com:99999/",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        parse_webhook_url(url)
