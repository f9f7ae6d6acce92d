"""Find a customer by pseudonymous key, or by a raw identifier through its keyed pseudonym.

Raw identifiers never reach the warehouse, so a source customer number, phone or ID
number given by a user is pseudonymised with the workspace's key and looked up by
its pseudonym; the raw value is not stored or logged.
"""

from __future__ import annotations

import ibis

from finpersona.config import Workspace
from finpersona.engine import Engine
from finpersona.privacy import load_or_create_secrets
from finpersona.privacy.pseudonym import pseudonym_or_none
from finpersona.schema import Pii
from finpersona.warehouse import Warehouse

# Tried in this order; the first that matches exactly one customer wins.
LOOKUPS = (("customer_key", None), ("customer_id", Pii.CUSTOMER_REF), ("phone", Pii.PHONE),
           ("id_number", Pii.ID_NUMBER), ("email", Pii.EMAIL))


class CustomerNotFoundError(LookupError):
    pass


def resolve_customer(workspace: Workspace, engine: Engine, warehouse: Warehouse,
                     given: str) -> tuple[str, str]:
    """The customer_key for ``given`` and which identifier matched it."""
    if not warehouse.has_table("customers"):
        raise CustomerNotFoundError("no customers ingested yet")
    customers = warehouse.read(engine, "customers")
    key = load_or_create_secrets(workspace.secrets_dir).pseudonym_key
    for label, kind in LOOKUPS:
        if kind is None:
            column, value = "customer_key", given.strip()
        else:
            column = "customer_key" if kind is Pii.CUSTOMER_REF else f"{label}_key"
            value = pseudonym_or_none(given, kind, key) or ""
        if not value or column not in customers.columns:
            continue
        hits = engine.to_arrow(customers.filter(customers[column] == ibis.literal(value))
                               .select("customer_key").distinct().limit(2))
        keys = hits["customer_key"].to_pylist()
        if len(keys) == 1:
            return str(keys[0]), label
        if len(keys) > 1:
            raise CustomerNotFoundError(f"{label} matches more than one customer; use the "
                                   "customer_key")
    raise CustomerNotFoundError("no customer matches that key, customer number, phone, ID number "
                           "or email")
