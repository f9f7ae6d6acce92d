"""``finpersona analyze sessions``."""

from __future__ import annotations
