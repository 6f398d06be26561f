"""The addresses a node tells others to dial (peer exchange, mDNS).

A host listening on ``0.0.0.0`` reports that address, which no peer can dial; it is expanded
here to the IPv4 address of every interface that is up (Linux ``SIOCGIFADDR``, stdlib only).
Loopback addresses are kept last: useful to a peer on the same machine, a failed dial (a
Noise handshake with another peer id) elsewhere.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from typing import Any

from multiaddr import Multiaddr

__all__ = ["dialable_addrs", "interface_ipv4s"]

_SIOCGIFADDR = 0x8915


def interface_ipv4s() -> list[str]:
    """IPv4 addresses of the local interfaces (loopback last)."""
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR,
                                     struct.pack("256s", name[:15].encode()))
            except OSError:
                continue  # no IPv4 address on this interface
            address = socket.inet_ntoa(packed[20:24])
            if address not in found:
                found.append(address)
    return sorted(found, key=lambda a: a.startswith("127."))


def dialable_addrs(host: Any) -> list[str]:
    """Full multiaddrs (``.../p2p/<id>``) of ``host``, with wildcard listeners expanded."""
    peer = str(host.get_id())
    out: list[str] = []
    for addr in host.get_addrs():
        text = str(addr)
        if "/p2p/" not in text:
            text = f"{text}/p2p/{peer}"
        try:
            ip = Multiaddr(text).value_for_protocol("ip4")
        except Exception:
            ip = None
        if ip == "0.0.0.0":
            out.extend(text.replace("/ip4/0.0.0.0/", f"/ip4/{a}/", 1)
                       for a in interface_ipv4s())
        else:
            out.append(text)
    return list(dict.fromkeys(out))
