"""samizdat_protocol: the pure, sans-IO core of Samizdat (design §1-§3).

No I/O, no clocks, no global randomness: callers pass bytes, ``now`` and seeds in.
"""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
