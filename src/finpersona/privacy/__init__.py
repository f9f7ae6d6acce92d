"""Privacy at the door: keyed pseudonyms, masks, the encrypted vault and ID numbers.

Everything that runs over a whole column exists as an Ibis expression that the
engine (DuckDB or Spark) executes, with a pure-Python twin giving identical
results for single look-ups and tests.
"""

from __future__ import annotations

from finpersona.privacy._text import strip_expr
from finpersona.privacy.idcard import (
    birth_date_from_id,
    gender_from_id,
    id_check_digit,
    id_check_digit_valid,
    id_check_digit_valid_expr,
    is_valid_id_number,
)
from finpersona.privacy.keys import SecretsError, WorkspaceSecrets, load_or_create_secrets
from finpersona.privacy.masking import mask, mask_expr, mask_free_text
from finpersona.privacy.pseudonym import (
    PSEUDONYM_LENGTH,
    normalise,
    normalise_expr,
    pseudonym,
    pseudonym_expr,
    pseudonym_or_none,
)
from finpersona.privacy.vault import Vault, VaultError

__all__ = [
    "PSEUDONYM_LENGTH",
    "SecretsError",
    "Vault",
    "VaultError",
    "WorkspaceSecrets",
    "birth_date_from_id",
    "gender_from_id",
    "id_check_digit",
    "id_check_digit_valid",
    "id_check_digit_valid_expr",
    "is_valid_id_number",
    "load_or_create_secrets",
    "mask",
    "mask_expr",
    "mask_free_text",
    "normalise",
    "normalise_expr",
    "pseudonym",
    "pseudonym_expr",
    "pseudonym_or_none",
    "strip_expr",
]
