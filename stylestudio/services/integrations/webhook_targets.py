"""Where an outgoing webhook may be sent: the URL's shape, and (in production) the addresses
its host resolves to.

A webhook is a request our server makes to a URL a user typed: pointed at 127.0.0.1, the
cloud's metadata address or a private network, it would reach what only the server should
(server-side request forgery). In production such addresses are refused when an endpoint is
saved and again right before each delivery, which then connects to the very address it
checked (a host that resolves elsewhere by then — DNS rebinding — gains nothing).
`STYLESTUDIO_WEBHOOKS_ALLOW_PRIVATE=true` lifts the address check for self-hosted setups.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from stylestudio.services.errors import ValidationError
from stylestudio.settings import get_settings

URL_MAX = 500

# (host, port) -> the addresses it resolves to; injectable for tests.
Resolver = Callable[[str, int], list[str]]


class WebhookTargetRefused(ValidationError):
    code = "WEBHOOK_TARGET_REFUSED"


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in found:
            found.append(address)
    return found


def addresses_checked() -> bool:
    """Whether private targets are refused: in production, unless explicitly allowed."""
    settings = get_settings()
    return settings.environment == "production" and not settings.webhooks_allow_private


def refusal_reason(address: str) -> str | None:
    """Why a request to `address` is refused, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, what in (
        (ip.is_loopback, "a loopback"),
        (ip.is_link_local, "a link-local"),
        (ip.is_multicast, "a multicast"),
        (ip.is_unspecified, "an unspecified"),
        (ip.is_reserved, "a reserved"),
        (ip.is_private, "a private"),
    ):
        if test:
            return f"{what} address"
    if not ip.is_global:  # shared (100.64/10), documentation and other special ranges
        return "a non-public address"
    return None


def parse_webhook_url(url: str) -> SplitResult:
    """The URL's parts, if it is one a webhook may be sent to (shape only, no DNS)."""
    url = url.strip()
    if not url or len(url) > URL_MAX:
        raise ValidationError(f"Enter the endpoint's URL (at most {URL_MAX} characters).")
    parts = urlsplit(url)
    schemes = ("https",) if get_settings().environment == "production" else ("https", "http")
    if parts.scheme not in schemes:
        raise ValidationError(
            "The endpoint's URL must start with https://."
            if schemes == ("https",)
            else "The endpoint's URL must start with https:// or http://."
        )
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number or out of range)
    except ValueError as exc:
        raise ValidationError("The endpoint's URL has an invalid port.") from exc
    if not parts.hostname:
        raise ValidationError("The endpoint's URL has no host name.")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("Put no user name or password in the endpoint's URL.")
    if parts.fragment:
        raise ValidationError("The endpoint's URL cannot have a #fragment.")
    return parts


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def checked_addresses(parts: SplitResult, *, resolve: Resolver = resolve_host) -> list[str]:
    """The host's addresses, all public; refused when any of them is not (or none is found)."""
    host = parts.hostname or ""
    try:
        addresses = resolve(host, default_port(parts))
    except (OSError, UnicodeError) as exc:
        raise WebhookTargetRefused(f"The host {host} could not be resolved.") from exc
    if not addresses:
        raise WebhookTargetRefused(f"The host {host} could not be resolved.")
    for address in addresses:
        reason = refusal_reason(address)
        if reason is not None:
            raise WebhookTargetRefused(
                f"The host {host} resolves to {reason} ({address}); webhooks only go to "
                "public addresses."
            )
    return addresses


def check_webhook_url(url: str, *, resolve: Resolver = resolve_host) -> str:
    """The normalised URL, after its shape and (in production) its host's addresses pass."""
    parts = parse_webhook_url(url)
    if addresses_checked():
        checked_addresses(parts, resolve=resolve)
    return urlunsplit(parts)


@dataclass(frozen=True)
class PinnedRequest:
    """Where to send one delivery: the URL to connect to, and the headers and extensions
    that keep the original host's name for HTTP (Host) and TLS (SNI, certificate)."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def pinned_request(url: str, *, resolve: Resolver = resolve_host) -> PinnedRequest:
    """Resolve and check the host right before sending, and connect to the checked address.

    Without the address check (development, tests, or allowed private targets) the URL is
    used as it is."""
    parts = parse_webhook_url(url)
    if not addresses_checked():
        return PinnedRequest(url=urlunsplit(parts), headers={}, extensions={})
    address = checked_addresses(parts, resolve=resolve)[0]
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = f"{host}:{parts.port}" if parts.port else host
    return PinnedRequest(
        url=urlunsplit(parts._replace(netloc=netloc)),
        headers={"Host": host_header},
        extensions={"sni_hostname": host} if parts.scheme == "https" else {},
    )
