"""Audience names and the privacy settings audiences obey.

The settings are read defensively (``getattr`` with the documented default) so
this package works before and after they are added to :class:`Settings`.
"""

from __future__ import annotations

import re

from finpersona.audiences.errors import AudienceError
from finpersona.config import ENV_PREFIX, Settings

DEFAULT_K_ANONYMITY = 10
DEFAULT_CONTACT_CAP_30D = 4
REIDENTIFY_ENV = ENV_PREFIX + "REIDENTIFY_USERS"

# Lower-case snake_case or Chinese: marketers name audiences in Chinese (高净值客户), and
# one case only means two names never differ by case alone. No spaces or punctuation,
# so a name is one shell word and a safe part of a file name.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
NAME_PATTERN = re.compile(f"[a-z{_CJK}][a-z0-9_{_CJK}]{{0,63}}")


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise AudienceError(
            f"invalid audience name {name!r}: use 1-64 lower-case letters, digits, '_' or "
            "Chinese characters, starting with a letter or a Chinese character "
            "(e.g. high_value_young or 高净值客户)")
    return name


def _int_setting(settings: Settings, name: str, default: int, minimum: int) -> int:
    value = getattr(settings, name, None)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise AudienceError(f"setting {name} must be an integer >= {minimum}, not {value!r}")
    return value


def k_anonymity(settings: Settings) -> int:
    """Cells describing fewer customers than this are suppressed (setting ``k_anonymity``)."""
    return _int_setting(settings, "k_anonymity", DEFAULT_K_ANONYMITY, 1)


def contact_cap_30d(settings: Settings) -> int:
    """Marketing touches sent in 30 days at which a customer is not contacted again."""
    return _int_setting(settings, "contact_cap_30d", DEFAULT_CONTACT_CAP_30D, 1)


def reidentify_users(settings: Settings) -> frozenset[str]:
    """Users allowed to export display forms: the setting ``reidentify_users``
    (or its environment override ``FINPERSONA_REIDENTIFY_USERS``), comma-separated."""
    return frozenset(n.strip() for n in settings.reidentify_users.split(",") if n.strip())
