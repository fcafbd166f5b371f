"""Where a webhook may be sent: public addresses only, unless the operator allows a network.

A tenant's webhook URL must not become a way into the operator's network (SSRF): a URL whose
host resolves to a loopback, private, link-local (cloud metadata), multicast, reserved or
unspecified address is refused when the webhook is registered, and again when each delivery
connects. The host is resolved once per delivery, the addresses checked, and the request sent
to the checked address itself, so a name that resolves to something else by the time of the
connection (DNS rebinding) cannot slip through.
"""

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from dupgate.settings import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# The well-known NAT64 prefix: its addresses reach the IPv4 address in their last 32 bits.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class RefusedTarget(ValueError):
    """A webhook URL that may not be called; the message says why."""

    error_class = "refused_private_address"


class InvalidTarget(RefusedTarget):
    """Not an http(s) URL with a host."""

    error_class = "invalid_url"


class Unresolvable(RefusedTarget):
    """The URL's host name has no address."""

    error_class = "dns_error"


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: the address to connect to, and the name the server expects."""

    url: str  # the URL with the checked address in place of the host name
    host: str  # the Host header (host[:port] as the tenant wrote it)
    sni_hostname: str | None  # for https: the name TLS checks the certificate against


def is_public(address: IPAddress) -> bool:
    """Whether an address is one the internet routes to anyone (not ours to protect)."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 and ::127.0.0.1 reach the IPv4 address they embed.
        embedded = address.ipv4_mapped or address.sixtofour
        if address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def check_address(address: IPAddress, allowed: Sequence[Network] = ()) -> None:
    """Refuse an address that is not public, unless it lies in an allowed network."""
    plain = address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        plain = address.ipv4_mapped
    if any(plain in network for network in allowed):
        return
    if not is_public(address):
        raise RefusedTarget(
            f"webhook URLs must reach a public address; {address} is loopback, private, "
            "link-local, multicast or otherwise internal (an operator can allow a network "
            "with DUPGATE_WEBHOOK_ALLOWED_NETWORKS)"
        )


def split(url: str) -> SplitResult:
    """The URL's parts, if it is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as e:
        raise InvalidTarget(f"url is not a valid URL: {e}") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidTarget(f"url must be an http:// or https:// URL, not {url!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidTarget("url must not carry a user name or password")
    return parts


def resolve(url: str, allowed: Sequence[Network] = ()) -> Target:
    """Resolve the URL's host once and check every address; the target to connect to."""
    parts = split(url)
    host = parts.hostname
    assert host is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise Unresolvable(f"the host of the webhook URL does not resolve: {host}") from e
    # A scoped IPv6 address ("fe80::1%eth0") comes back with its zone: drop it to check it.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise Unresolvable(f"the host of the webhook URL does not resolve: {host}")
    # Every address is checked, not just the one used: a name with one public and one
    # internal address is refused rather than left to the resolver's order.
    for address in addresses:
        check_address(address, allowed)
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{port}"
    checked = parts._replace(netloc=netloc).geturl()
    is_name = host.strip("[]") != str(address)
    sni = host if parts.scheme == "https" and is_name else None
    return Target(checked, parts.netloc, sni)
