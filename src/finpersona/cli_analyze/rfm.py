"""``finpersona analyze rfm``."""

from __future__ import annotations
