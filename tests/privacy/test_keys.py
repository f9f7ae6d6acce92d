from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from finpersona.privacy import SecretsError, WorkspaceSecrets, load_or_create_secrets


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_once_with_private_permissions(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "ws" / "secrets"
    first = load_or_create_secrets(secrets_dir)
    assert isinstance(first, WorkspaceSecrets)
    assert len(first.pseudonym_key) == 32 and len(first.vault_key) == 32
    assert first.pseudonym_key != first.vault_key
    assert _mode(secrets_dir) == 0o700
    keys_file = secrets_dir / "keys.json"
    assert _mode(keys_file) == 0o600
    data = json.loads(keys_file.read_text())
    assert bytes.fromhex(data["pseudonym_key"]) == first.pseudonym_key
    assert bytes.fromhex(data["vault_key"]) == first.vault_key
    assert list(secrets_dir.iterdir()) == [keys_file]  # no temporary file left behind
    # Persistent: the second call reads the same keys.
    assert load_or_create_secrets(secrets_dir) == first
    # Another workspace gets other keys.
    assert load_or_create_secrets(tmp_path / "other") != first


def test_keys_never_printed(tmp_path: Path) -> None:
    found = load_or_create_secrets(tmp_path)
    assert found.pseudonym_key.hex() not in repr(found)
    assert found.vault_key.hex() not in str(found)


def test_existing_directory_is_made_private(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o755)
    secrets_dir.chmod(0o755)
    load_or_create_secrets(secrets_dir)
    assert _mode(secrets_dir) == 0o700


def test_loose_file_permissions_are_tightened(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path)
    keys_file = tmp_path / "keys.json"
    keys_file.chmod(0o644)
    assert load_or_create_secrets(tmp_path) == first
    assert _mode(keys_file) == 0o600


@pytest.mark.parametrize(("content", "reason"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"vault_key": "00"}', "no pseudonym_key"),
    ('{"pseudonym_key": "zz", "vault_key": "00"}', "not hex"),
    (json.dumps({"pseudonym_key": "00" * 32, "vault_key": "00" * 16}), "16 bytes"),
    ("\udcff", "not JSON"),
])
def test_corrupt_file_is_a_clear_error(tmp_path: Path, content: str, reason: str) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(SecretsError, match=reason) as info:
        load_or_create_secrets(tmp_path)
    assert "corrupt" in str(info.value) and str(keys_file) in str(info.value)
    assert keys_file.read_bytes() == content.encode("utf-8", "surrogateescape")  # untouched


def test_path_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "secrets"
    target.write_text("x")
    with pytest.raises(SecretsError, match="not a directory"):
        load_or_create_secrets(target)
