"""Audiences (人群圈选): selection over tag snapshots, counts, insight, overlap and safe export.

Saved audiences and the export log live in the application database
(:mod:`finpersona.appdb`); customer-scale work runs in the engine or on the
bitmap index (:mod:`finpersona.audiences.index`). The export rules are in
``docs/audiences.md``.
"""

from finpersona.audiences.errors import (
    AudienceError,
    AudienceExpressionError,
    ReidentificationError,
)
from finpersona.audiences.export import (
    CHANNELS,
    FORMATS,
    PURPOSES,
    REASONS,
    ExportResult,
    export,
)
from finpersona.audiences.overlap import Overlap, OverlapRegion, overlap
from finpersona.audiences.policy import check_name
from finpersona.audiences.profile import Profile, ProfileCell, TagProfile, profile
from finpersona.audiences.saved import (
    Audience,
    RefreshResult,
    SizeRecord,
    default_actor,
    delete_audience,
    list_audiences,
    refresh_audiences,
    save_audience,
    save_member_audience,
    show_audience,
)
from finpersona.audiences.selection import CountResult, Selector, count, open_selector

__all__ = [
    "CHANNELS",
    "FORMATS",
    "PURPOSES",
    "REASONS",
    "Audience",
    "AudienceError",
    "AudienceExpressionError",
    "CountResult",
    "ExportResult",
    "Overlap",
    "OverlapRegion",
    "Profile",
    "ProfileCell",
    "RefreshResult",
    "ReidentificationError",
    "Selector",
    "SizeRecord",
    "TagProfile",
    "check_name",
    "count",
    "default_actor",
    "delete_audience",
    "export",
    "list_audiences",
    "open_selector",
    "overlap",
    "profile",
    "refresh_audiences",
    "save_audience",
    "save_member_audience",
    "show_audience",
]
