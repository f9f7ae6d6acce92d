"""``finpersona analyze retention``."""

from __future__ import annotations
