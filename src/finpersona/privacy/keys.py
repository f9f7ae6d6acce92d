"""The workspace's two secrets: the pseudonym key and the vault key.

They live in ``<secrets_dir>/keys.json`` (directory mode 0700, file mode
0600), created with fresh random keys on first use. Losing the file means
pseudonyms can no longer be recomputed for new data (they would not join with
old data) and the vault can no longer be decrypted, so back it up separately
from the warehouse and never commit it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

KEYS_FILE = "keys.json"
KEY_BYTES = 32
_FORMAT_VERSION = 1


class SecretsError(ValueError):
    """The secrets file exists but cannot be used."""


@dataclass(frozen=True)
class WorkspaceSecrets:
    pseudonym_key: bytes = field(repr=False)
    vault_key: bytes = field(repr=False)


def _parse(path: Path) -> WorkspaceSecrets:
    hint = ("restore it from a backup; do not delete it if any data was ingested with it, "
            "since pseudonyms and vault contents depend on these keys")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SecretsError(f"secrets file {path} is corrupt (not JSON: {exc}); {hint}") from exc
    if not isinstance(data, dict):
        raise SecretsError(f"secrets file {path} is corrupt (not a JSON object); {hint}")
    keys: dict[str, bytes] = {}
    for name in ("pseudonym_key", "vault_key"):
        text = data.get(name)
        if not isinstance(text, str):
            raise SecretsError(f"secrets file {path} is corrupt (no {name}); {hint}")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise SecretsError(
                f"secrets file {path} is corrupt ({name} is not hex); {hint}") from None
        if len(raw) != KEY_BYTES:
            raise SecretsError(f"secrets file {path} is corrupt ({name} has {len(raw)} bytes, "
                               f"expected {KEY_BYTES}); {hint}")
        keys[name] = raw
    return WorkspaceSecrets(pseudonym_key=keys["pseudonym_key"], vault_key=keys["vault_key"])


def _create(path: Path) -> None:
    """Write a new keys file atomically; if another process wins the race, keep theirs."""
    content = json.dumps({
        "version": _FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pseudonym_key": secrets.token_bytes(KEY_BYTES).hex(),
        "vault_key": secrets.token_bytes(KEY_BYTES).hex(),
    }, indent=2) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic and never overwrites an existing keys file
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create_secrets(secrets_dir: Path) -> WorkspaceSecrets:
    """Read the workspace secrets, creating them (and the directory) on first use."""
    secrets_dir = Path(secrets_dir)
    if not secrets_dir.exists():
        secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        secrets_dir.chmod(0o700)  # mkdir's mode is reduced by the umask
    elif not secrets_dir.is_dir():
        raise SecretsError(f"secrets path {secrets_dir} exists and is not a directory")
    path = secrets_dir / KEYS_FILE
    if not path.exists():
        secrets_dir.chmod(0o700)  # the directory holds nothing else worth sharing
        _create(path)
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)  # tighten a copied or restored file; never loosen
    return _parse(path)
