"""client_address: X-Forwarded-For is trusted only through the configured proxy hops."""

from __future__ import annotations

import pytest

from infrastructure.ratelimit import client_address

PEER = "10.0.0.7"  # the socket peer: the proxy when there is one


@pytest.mark.parametrize(
    "forwarded",
    [None, "", "203.0.113.9", "1.2.3.4, 5.6.7.8", "  evil  ", ",,,"],
)
def test_no_trusted_proxy_ignores_the_header(forwarded: str | None) -> None:
    assert client_address(PEER, forwarded, 0) == PEER


def test_one_hop_takes_the_entry_the_proxy_appended() -> None:
    assert client_address(PEER, "203.0.113.9", 1) == "203.0.113.9"


def test_one_hop_ignores_what_the_client_prepended() -> None:
    # the client sent "X-Forwarded-For: 1.1.1.1, 2.2.2.2"; the proxy appended the real address
    assert client_address(PEER, "1.1.1.1, 2.2.2.2, 203.0.113.9", 1) == "203.0.113.9"


def test_two_hops_take_the_second_from_the_right() -> None:
    # client → CDN (appends the client) → load balancer (appends the CDN) → app
    assert client_address(PEER, "spoofed, 203.0.113.9, 198.51.100.1", 2) == "203.0.113.9"
    assert client_address(PEER, "203.0.113.9, 198.51.100.1", 2) == "203.0.113.9"


def test_fewer_entries_than_hops_takes_the_leftmost() -> None:
    assert client_address(PEER, "203.0.113.9", 3) == "203.0.113.9"
    assert client_address(PEER, "203.0.113.9, 198.51.100.1", 3) == "203.0.113.9"


def test_whitespace_and_empty_entries_are_dropped() -> None:
    assert client_address(PEER, "  203.0.113.9  ", 1) == "203.0.113.9"
    assert client_address(PEER, "junk,, ,\t203.0.113.9 ,", 1) == "203.0.113.9"
    assert client_address(PEER, "a,b,\t203.0.113.9\t, 198.51.100.1", 2) == "203.0.113.9"


@pytest.mark.parametrize("forwarded", [None, "", " ", " , ,"])
def test_trusted_hops_without_a_usable_header_fall_back_to_the_peer(forwarded: str | None) -> None:
    assert client_address(PEER, forwarded, 1) == PEER


@pytest.mark.parametrize("peer", [None, "", "   "])
def test_nothing_at_all_is_unknown(peer: str | None) -> None:
    assert client_address(peer, None, 0) == "unknown"
    assert client_address(peer, " , ", 1) == "unknown"


def test_peer_is_stripped() -> None:
    assert client_address(" 10.0.0.7 ", None, 0) == PEER


def test_ports_are_dropped_so_a_client_cannot_rotate_buckets_by_port() -> None:
    assert client_address(PEER, "203.0.113.9:51000", 1) == "203.0.113.9"
    assert client_address(PEER, "[2001:db8::1]:443", 1) == "2001:db8::1"
    assert client_address(PEER, "[2001:db8::1]", 1) == "2001:db8::1"


def test_ipv6_is_canonical() -> None:
    assert client_address(PEER, "2001:DB8:0:0:0:0:0:1", 1) == "2001:db8::1"
    assert client_address("2001:0db8::0001", None, 0) == "2001:db8::1"
    assert client_address(PEER, "::ffff:203.0.113.9", 1) == "203.0.113.9"


def test_non_ip_values_are_kept_as_written() -> None:
    assert client_address("testclient", None, 0) == "testclient"
    assert client_address(PEER, "_hidden", 1) == "_hidden"
    assert client_address(PEER, "proxy.internal:8080", 1) == "proxy.internal:8080"


def test_the_client_cannot_choose_its_bucket() -> None:
    """Whatever a client writes in the header, behind one proxy it lands in its real address's bucket."""
    real = "203.0.113.9"
    for sent in ("1.1.1.1", "1.1.1.1, 8.8.8.8", "unknown", "", "203.0.113.10"):
        header = f"{sent}, {real}" if sent else real
        assert client_address(PEER, header, 1) == real
