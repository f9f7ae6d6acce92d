"""``finpersona analyze trends``."""

from __future__ import annotations
