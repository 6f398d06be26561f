"""Hypothesis strategies shared by the protocol tests."""

from __future__ import annotations

from hypothesis import strategies as st

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
scalars = st.none() | st.booleans() | ints | st.text(max_size=40) | st.binary(max_size=40)

values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)

hashes = st.binary(min_size=32, max_size=32)
record_ids = st.from_regex(r"[a-z0-9]{1,8}:[0-9]{1,9}", fullmatch=True)
timestamps = st.integers(min_value=0, max_value=2**53 - 1)
