"""The 360° customer portrait: tags by category, masked identity, recent activity."""

from finpersona.portrait.lookup import CustomerNotFoundError, resolve_customer
from finpersona.portrait.portrait import (
    Portrait,
    PortraitError,
    TagValue,
    TimelineItem,
    build_portrait,
)

__all__ = ["CustomerNotFoundError", "Portrait", "PortraitError", "TagValue", "TimelineItem",
           "build_portrait", "resolve_customer"]
