"""``finpersona analyze patterns``."""

from __future__ import annotations
