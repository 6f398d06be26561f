"""Ed25519 signing with domains, and sealed key files."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from samizdat_protocol import signing
from samizdat_protocol.errors import KeyFileError, LocalError, SignatureError
from samizdat_protocol.signing import DOMAIN_CHARTER, DOMAIN_HEAD, SigningKey, open_key, seal_key

seeds = st.binary(min_size=32, max_size=32)
FAST = {"ops": 1, "mem": 8192}  # argon2id minimums keep the tests fast; defaults are stronger


@given(seeds, st.binary(max_size=200))
def test_sign_verify(seed: bytes, message: bytes) -> None:
    key = SigningKey.from_seed(seed)
    sig = key.sign(DOMAIN_HEAD, message)
    signing.verify(key.public, DOMAIN_HEAD, message, sig)


@given(seeds, st.binary(min_size=1, max_size=100), st.data())
def test_any_flipped_byte_fails(seed: bytes, message: bytes, data: st.DataObject) -> None:
    key = SigningKey.from_seed(seed)
    sig = key.sign(DOMAIN_HEAD, message)
    blob = bytearray(key.public + sig + message)
    pos = data.draw(st.integers(0, len(blob) - 1))
    blob[pos] ^= data.draw(st.integers(1, 255))
    public, sig2, message2 = bytes(blob[:32]), bytes(blob[32:96]), bytes(blob[96:])
    with pytest.raises(SignatureError):
        signing.verify(public, DOMAIN_HEAD, message2, sig2)


def test_domains_separate() -> None:
    key = SigningKey.from_seed(b"\x07" * 32)
    sig = key.sign(DOMAIN_HEAD, b"m")
    with pytest.raises(SignatureError):
        signing.verify(key.public, DOMAIN_CHARTER, b"m", sig)
    with pytest.raises(LocalError):
        key.sign(b"other", b"m")


def test_repr_hides_secret() -> None:
    key = SigningKey.from_seed(b"\x01" * 32)
    assert (b"\x01" * 32).hex() not in repr(key)


def test_plain_key_file_round_trip() -> None:
    key = SigningKey.from_seed(b"\x02" * 32)
    assert open_key(seal_key(key, None), None) == key
    assert signing.key_file_public(seal_key(key, None)) == key.public
    assert not signing.key_file_is_sealed(seal_key(key, None))


def test_sealed_key_file() -> None:
    key = SigningKey.from_seed(b"\x03" * 32)
    blob = seal_key(key, b"correct horse", salt=b"s" * 16, nonce=b"n" * 24, **FAST)
    assert signing.key_file_is_sealed(blob)
    assert key.seed not in blob
    assert open_key(blob, b"correct horse") == key
    with pytest.raises(KeyFileError) as err:
        open_key(blob, b"wrong")
    assert err.value.code == "keyfile.bad_passphrase"
    with pytest.raises(KeyFileError) as err:
        open_key(blob, None)
    assert err.value.code == "keyfile.passphrase_required"


@pytest.mark.parametrize("blob", [b"", b"\xc0", b"garbage", b"\x81\xa6format\xa1x"])
def test_malformed_key_files(blob: bytes) -> None:
    with pytest.raises(KeyFileError) as err:
        open_key(blob, None)
    assert err.value.code == "keyfile.malformed"


def test_key_file_with_foreign_public_key_refused() -> None:
    from samizdat_protocol.encoding import decode, encode

    body = decode(seal_key(SigningKey.from_seed(b"\x04" * 32), None))
    body["public"] = SigningKey.from_seed(b"\x05" * 32).public
    with pytest.raises(KeyFileError) as err:
        open_key(encode(body), None)
    assert err.value.code == "keyfile.mismatch"
