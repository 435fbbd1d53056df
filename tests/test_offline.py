"""Offline by construction: any connection that is not to loopback fails before a packet leaves."""

import socket

import pytest
from pytest_socket import SocketBlockedError, SocketConnectBlockedError


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
@pytest.mark.parametrize("host", ["192.0.2.1", "2001:db8::1"])  # documentation ranges; blocked before sending
def test_non_loopback_connections_are_refused(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises((SocketBlockedError, SocketConnectBlockedError)):
        sock.connect((host, 443) if family == socket.AF_INET else (host, 443, 0, 0))


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
