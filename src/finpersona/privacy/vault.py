"""Encryption of raw identifiers and raw lines: AES-256-GCM with associated data.

A token is ``nonce (12 random bytes) || ciphertext || tag (16 bytes)``. The
associated data (for example the row's customer key) is authenticated but not
stored: a token decrypts only together with the associated data it was made
with, so a token copied onto another row is detected. Random 96-bit nonces are
safe for well under 2**32 encryptions per key.
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32


class VaultError(Exception):
    """A token could not be decrypted: tampered, wrong key or wrong associated data."""


def _as_array(values: Any, name: str) -> Any:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    raise TypeError(f"{name} must be a pyarrow Array or ChunkedArray, not {type(values).__name__}")


def _associated_bytes(associated: Any, length: int) -> list[bytes]:
    arr = _as_array(associated, "associated")
    if len(arr) != length:
        raise ValueError(f"associated has {len(arr)} values for {length} values")
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        return [b"" if a is None else a for a in arr.to_pylist()]
    # A null associated value authenticates as the empty string.
    return [b"" if a is None else a.encode("utf-8") for a in arr.cast(pa.string()).to_pylist()]


class Vault:
    """Encrypts and decrypts with one 32-byte workspace key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"the vault key must be {KEY_SIZE} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Vault(<key hidden>)"

    def encrypt(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def decrypt(self, token: bytes, associated: bytes) -> bytes:
        if len(token) < NONCE_SIZE + TAG_SIZE:
            raise VaultError(f"token of {len(token)} bytes is too short to be a vault token")
        try:
            return self._aead.decrypt(token[:NONCE_SIZE], token[NONCE_SIZE:], associated)
        except InvalidTag:
            raise VaultError(
                "token does not authenticate: tampered, wrong key or wrong associated data"
            ) from None

    def encrypt_column(self, values: Any, associated: Any) -> Any:
        """Encrypt a string column row by row; nulls stay null. Returns a binary Array.

        ``associated`` is a string (or binary) column of the same length whose
        value is bound to each row's token.
        """
        arr = _as_array(values, "values")
        texts = arr.cast(pa.string()).to_pylist()
        ads = _associated_bytes(associated, len(texts))
        # One urandom call for all nonces instead of one system call per value.
        nonces = os.urandom(NONCE_SIZE * len(texts))
        encrypt = self._aead.encrypt
        out: list[bytes | None] = []
        append = out.append
        for i, (text, ad) in enumerate(zip(texts, ads, strict=True)):
            if text is None:
                append(None)
                continue
            nonce = nonces[i * NONCE_SIZE : (i + 1) * NONCE_SIZE]
            append(nonce + encrypt(nonce, text.encode("utf-8"), ad))
        return pa.array(out, type=pa.binary())

    def decrypt_column(self, tokens: Any, associated: Any) -> Any:
        """Decrypt a binary column made by :meth:`encrypt_column`; returns a string Array.

        Raises :class:`VaultError` naming the first row that does not authenticate.
        """
        arr = _as_array(tokens, "tokens")
        items = arr.to_pylist()
        ads = _associated_bytes(associated, len(items))
        decrypt = self._aead.decrypt
        out: list[str | None] = []
        append = out.append
        for i, (token, ad) in enumerate(zip(items, ads, strict=True)):
            if token is None:
                append(None)
                continue
            if len(token) < NONCE_SIZE + TAG_SIZE:
                raise VaultError(f"row {i}: token of {len(token)} bytes is too short")
            try:
                plain = decrypt(token[:NONCE_SIZE], token[NONCE_SIZE:], ad)
            except InvalidTag:
                raise VaultError(
                    f"row {i}: token does not authenticate "
                    "(tampered, wrong key or wrong associated data)"
                ) from None
            append(plain.decode("utf-8"))
        return pa.array(out, type=pa.string())
