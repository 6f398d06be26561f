"""Finding peers: configured bootstrap peers, mDNS, the Kademlia DHT, peer exchange (design §4)."""

from .addrs import dialable_addrs, interface_ipv4s
from .dht import DhtDiscovery, dataset_key
from .mdns import MdnsDiscovery, service_type_for
from .peers import Connector, KnownPeer, PeerBook, split_p2p_addr

__all__ = [
    "Connector",
    "DhtDiscovery",
    "KnownPeer",
    "MdnsDiscovery",
    "PeerBook",
    "dataset_key",
    "dialable_addrs",
    "interface_ipv4s",
    "service_type_for",
    "split_p2p_addr",
]
