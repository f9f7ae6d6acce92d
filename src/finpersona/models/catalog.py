"""Which models exist, where their specs live, and their outcome windows.

Specs are imported on first use: the command line lists models without loading
LightGBM or optbinning.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from finpersona.config import Settings
from finpersona.models.spec import ModelError, ModelSpec

# name -> "module:attribute" of the spec object. Names equal the catalogue's
# ``model: {name: ...}`` of the tags each model writes (tags/catalogue/model.yaml).
SPECS: dict[str, str] = {
    "credit_risk": "finpersona.models.credit_risk:SPEC",
    "clv": "finpersona.models.clv_spec:SPEC",
    "churn": "finpersona.models.churn:SPEC",
    "propensity": "finpersona.models.propensity:SPEC",
    "risk_preference": "finpersona.models.risk_preference:SPEC",
    "segmentation": "finpersona.models.segments:SPEC",
    "lifecycle": "finpersona.models.lifecycle:SPEC",
}

# Models whose features read other models' tags, and whose tags they read.
READS_SCORES_OF: dict[str, tuple[str, ...]] = {
    "clv": ("credit_risk",),  # pd_12m, for the expected credit loss
    "lifecycle": ("churn",),  # churn_probability
}

# Models whose features read other models' tags come after them (READS_SCORES_OF):
# train and score in this order.
TRAINING_ORDER = ("credit_risk", "churn", "propensity", "clv", "risk_preference",
                  "segmentation", "lifecycle")

# How long after the feature snapshot a supervised model's outcome is observed. The
# training snapshot must be at least this old, and a time-based test needs a second
# snapshot at least this much later.
OUTCOME_DAYS: dict[str, Callable[[Settings], int]] = {
    "credit_risk": lambda s: s.credit_horizon_days,
    "churn": lambda s: s.churn_horizon_days,
    "propensity": lambda s: s.propensity_horizon_days,
}


def get_spec(name: str, settings: Settings | None = None) -> ModelSpec:
    """The spec of a model; with ``settings``, configured by the workspace (a spec that
    has a ``from_settings`` constructor reads its horizon, discount rate, LGD...)."""
    if name not in SPECS:
        raise ModelError(f"unknown model {name!r}; models: {', '.join(SPECS)}")
    module, _, attribute = SPECS[name].partition(":")
    spec: ModelSpec = getattr(importlib.import_module(module), attribute)
    configure = getattr(type(spec), "from_settings", None)
    if settings is not None and configure is not None:
        configured: ModelSpec = configure(settings)
        return configured
    return spec


def outcome_days(name: str, settings: Settings) -> int:
    """Days of outcome window after the snapshot (0 for models without an outcome)."""
    rule = OUTCOME_DAYS.get(name)
    if rule is not None:
        return rule(settings)
    # A spec may fix its own test window (clv: purchases in the 90 days after the
    # snapshot test a 12-month forecast; a 12-month window would leave no test data).
    return int(getattr(get_spec(name, settings), "outcome_days", 0))
