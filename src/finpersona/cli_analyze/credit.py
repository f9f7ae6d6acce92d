"""``finpersona analyze credit``."""

from __future__ import annotations
