"""Webhook targets: internal addresses are refused at registration and again at connect time."""

import pytest

from dupgate.settings import parse_networks
from dupgate.store.db import session_scope
from dupgate.tenancy.keys import BOOTSTRAP
from dupgate.webhooks.endpoints import InvalidWebhook, create_webhook
from dupgate.webhooks.http import post
from dupgate.webhooks.targets import RefusedTarget, resolve
from tests.receiver import LOCAL, SECRET, receiver

INTERNAL = [
    "http://127.0.0.1/",
    "http://localhost:8080/hook",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f.1/",  # and in hex
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",  # the IPv6 metadata address
    "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[::]/",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(RefusedTarget, match="public address"):
        resolve(url)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/", "http:///path", "http://user:pw@8.8.8.8/", "http://8.8.8.8:x/"]
)
def test_what_is_not_a_plain_http_url_is_refused(url: str) -> None:
    with pytest.raises(RefusedTarget):
        resolve(url)


def test_a_public_address_is_called_as_checked() -> None:
    target = resolve("https://8.8.8.8/hooks?x=1")
    assert (target.url, target.host, target.sni_hostname) == (
        "https://8.8.8.8:443/hooks?x=1",
        "8.8.8.8",
        None,
    )


def test_a_name_is_resolved_once_and_the_checked_address_is_what_is_called() -> None:
    # The connection goes to the address that was checked, with the name only in the Host
    # header (and TLS's server name): a second lookup cannot answer something else.
    target = resolve("http://localhost:8080/hook", parse_networks("127.0.0.0/8"))
    assert (target.url, target.host) == ("http://127.0.0.1:8080/hook", "localhost:8080")


def test_an_allowed_network_lets_only_its_addresses_through() -> None:
    allowed = parse_networks("127.0.0.1/32, 10.20.0.0/16")
    resolve("http://127.0.0.1:9/", allowed)
    resolve("http://[::ffff:127.0.0.1]:9/", allowed)
    resolve("http://10.20.3.4/", allowed)
    for refused in ("http://127.0.0.2/", "http://10.21.0.1/", "http://169.254.169.254/"):
        with pytest.raises(RefusedTarget):
            resolve(refused, allowed)


def test_registering_a_webhook_to_an_internal_address_is_refused(database_url: str) -> None:
    with session_scope(database_url) as s, pytest.raises(InvalidWebhook, match="public address"):
        create_webhook(s, "default", "http://169.254.169.254/", SECRET, ["*"], BOOTSTRAP)


def test_a_delivery_to_an_address_no_longer_allowed_never_connects(database_url: str) -> None:
    # Registered while the operator allowed the network, delivered after they stopped: the
    # check at connect time refuses it, whatever was checked at registration.
    with receiver() as hook:
        with session_scope(database_url) as s:
            create_webhook(s, "default", hook.url, SECRET, ["*"], BOOTSTRAP, allowed=LOCAL)
        attempt = post(hook.url, {}, b"{}")
        assert hook.calls == []
    assert (attempt.status_code, attempt.error, attempt.ok) == (
        None,
        "refused_private_address",
        False,
    )
