"""``finpersona analyze rules``."""

from __future__ import annotations
