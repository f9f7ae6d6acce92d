from __future__ import annotations

import time

import pyarrow as pa
import pytest

from finpersona.privacy import Vault, VaultError

KEY = bytes(range(32))


def test_round_trip_and_nonce() -> None:
    vault = Vault(KEY)
    token = vault.encrypt("张三 13812345678".encode(), b"customer-key-1")
    assert vault.decrypt(token, b"customer-key-1") == "张三 13812345678".encode()
    assert b"13812345678" not in token
    # A fresh random nonce every time: same plaintext, different tokens.
    assert vault.encrypt(b"x", b"a") != vault.encrypt(b"x", b"a")
    assert len(vault.encrypt(b"", b"a")) == 12 + 16
    assert "KEY" not in repr(vault) and KEY.hex() not in repr(vault)


def test_tampering_wrong_row_and_wrong_key_are_detected() -> None:
    vault = Vault(KEY)
    token = vault.encrypt(b"13812345678", b"row-1")
    for i in (0, 12, len(token) - 1):  # nonce, ciphertext, tag
        tampered = bytearray(token)
        tampered[i] ^= 0x01
        with pytest.raises(VaultError, match="tampered"):
            vault.decrypt(bytes(tampered), b"row-1")
    with pytest.raises(VaultError, match="wrong associated data"):
        vault.decrypt(token, b"row-2")
    with pytest.raises(VaultError, match="wrong key"):
        Vault(bytes(32)).decrypt(token, b"row-1")
    with pytest.raises(VaultError, match="too short"):
        vault.decrypt(token[:20], b"row-1")
    with pytest.raises(ValueError, match="32 bytes"):
        Vault(b"short")


def test_columns_round_trip_with_nulls() -> None:
    vault = Vault(KEY)
    values = pa.array(["张三", None, "13812345678", "", "alice@example.com"], pa.string())
    rows = pa.array(["k1", "k2", "k3", None, "k5"], pa.string())
    tokens = vault.encrypt_column(values, rows)
    assert tokens.type == pa.binary()
    assert tokens.null_count == 1
    assert vault.decrypt_column(tokens, rows).to_pylist() == values.to_pylist()
    # ChunkedArray in, large_string in: both accepted.
    chunked = pa.chunked_array([values.slice(0, 2), values.slice(2)]).cast(pa.large_string())
    again = vault.encrypt_column(chunked, pa.chunked_array([rows]))
    assert vault.decrypt_column(again, rows).to_pylist() == values.to_pylist()
    # Each token is bound to its row: moving a token to another row is detected.
    swapped = pa.array([tokens[2].as_py(), None, tokens[0].as_py(), tokens[3].as_py(),
                        tokens[4].as_py()], pa.binary())
    with pytest.raises(VaultError, match="row 0"):
        vault.decrypt_column(swapped, rows)
    with pytest.raises(ValueError, match="associated has 1 values"):
        vault.encrypt_column(values, pa.array(["k1"]))


def test_single_and_column_forms_agree() -> None:
    vault = Vault(KEY)
    tokens = vault.encrypt_column(pa.array(["abc"]), pa.array(["k"]))
    assert vault.decrypt(tokens[0].as_py(), b"k") == b"abc"
    token = vault.encrypt(b"abc", b"k")
    assert vault.decrypt_column(pa.array([token], pa.binary()), pa.array(["k"])).to_pylist() == [
        "abc"]


def test_column_speed_is_reasonable() -> None:
    vault = Vault(KEY)
    n = 20_000
    values = pa.array([f"1381234{i:04d}" for i in range(n)], pa.string())
    rows = pa.array([f"{i:020x}" for i in range(n)], pa.string())
    start = time.perf_counter()
    tokens = vault.encrypt_column(values, rows)
    vault.decrypt_column(tokens, rows)
    per_value = (time.perf_counter() - start) / n
    assert per_value < 100e-6  # generous: about 2-3 µs each way on a laptop
