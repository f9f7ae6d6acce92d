"""``finpersona analyze funnel``."""

from __future__ import annotations
