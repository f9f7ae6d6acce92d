"""``finpersona analyze paths``."""

from __future__ import annotations
