"""``finpersona analyze lifecycle``."""

from __future__ import annotations
