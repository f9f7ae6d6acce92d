"""The model registry: every trained version, its card, and which one is promoted.

Layout in the workspace (``models/``)::

    models/<name>/v<N>/estimator.pkl   the fitted estimator (pickle)
    models/<name>/v<N>/card.json       parameters, features, dates, fingerprint, metrics
    models/<name>/v<N>/card.md         the generated model card, for people
    models/<name>/promoted             the version ``model score`` uses by default

A version is written into a hidden folder and renamed into place, so a failed or
interrupted training never leaves a half-written version behind; versions are
never modified after that. The pickle's SHA-256 is in the card and is checked on
every load, so a damaged or replaced file is refused rather than used.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finpersona.models.spec import ModelError

ESTIMATOR_FILE = "estimator.pkl"
CARD_JSON = "card.json"
CARD_MD = "card.md"
PROMOTED = "promoted"


@dataclass(frozen=True)
class ModelVersion:
    """What the registry knows of one trained version (the machine-readable card)."""

    name: str
    version: int
    created_at: str
    engine: str
    title: dict[str, str]
    purpose: str
    limits: str
    params: dict[str, Any]
    features: list[str]
    outputs: list[str]
    training_as_of: str
    test_as_of: str | None
    split: str  # how the held-out data was chosen
    fingerprint: str  # SHA-256 of the training data (features and labels)
    rows: dict[str, int]  # training / test rows
    metrics: dict[str, Any]  # held-out metrics
    baseline: dict[str, Any]  # distributions at training time, for monitoring
    notes: dict[str, Any] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    estimator_sha256: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_ref(text: str) -> tuple[str, int | None]:
    """``churn`` -> (churn, None); ``churn@v3`` or ``churn@3`` -> (churn, 3)."""
    name, _, version = text.partition("@")
    if not name:
        raise ModelError(f"invalid model reference {text!r}: use NAME or NAME@vN")
    if not version:
        return name, None
    digits = version[1:] if version[:1] in "vV" else version
    if not digits.isdigit() or int(digits) < 1:
        raise ModelError(f"invalid version {version!r} in {text!r}: use NAME@vN, e.g. {name}@v1")
    return name, int(digits)


class ModelRegistry:
    """Trained versions of every model in one workspace."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.exists():
            return []
        return sorted(int(p.name[1:]) for p in folder.iterdir()
                      if p.is_dir() and p.name[:1] == "v" and p.name[1:].isdigit()
                      and (p / CARD_JSON).exists())

    def promoted(self, name: str) -> int | None:
        marker = self.root / name / PROMOTED
        if not marker.exists():
            return None
        text = marker.read_text(encoding="utf-8").strip()
        return int(text) if text.isdigit() else None

    def card(self, name: str, version: int | None = None) -> ModelVersion:
        """A version's card; without a version, the promoted one, else the newest."""
        chosen = self._choose(name, version)
        data = json.loads((self._dir(name, chosen) / CARD_JSON).read_text(encoding="utf-8"))
        return ModelVersion(**data)

    def load(self, name: str, version: int | None = None) -> tuple[ModelVersion, Any]:
        """The card and the fitted estimator, after checking the pickle is the one trained."""
        card = self.card(name, version)
        blob = (self._dir(name, card.version) / ESTIMATOR_FILE).read_bytes()
        if hashlib.sha256(blob).hexdigest() != card.estimator_sha256:
            raise ModelError(f"{card.ref}: {ESTIMATOR_FILE} does not match the checksum in its "
                             "card (damaged or replaced); train a new version")
        return card, pickle.loads(blob)  # the workspace's own file, checksum verified above

    def save(self, card: ModelVersion, estimator: Any, card_markdown: str) -> ModelVersion:
        """Write a new version atomically; returns the card with its number and checksum."""
        folder = self.root / card.name
        folder.mkdir(parents=True, exist_ok=True)
        blob = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        try:
            for _ in range(100):  # another trainer may take a number first: try the next one
                number = max(self.versions(card.name), default=0) + 1
                final = replace_version(card, number, hashlib.sha256(blob).hexdigest())
                (staging / ESTIMATOR_FILE).write_bytes(blob)
                (staging / CARD_JSON).write_text(
                    json.dumps(final.to_dict(), ensure_ascii=False, indent=2, default=str)
                    + "\n", encoding="utf-8")
                (staging / CARD_MD).write_text(
                    card_markdown.replace("{version}", f"v{number}"), encoding="utf-8")
                try:
                    staging.rename(folder / f"v{number}")
                except OSError:
                    continue
                return final
            raise ModelError(f"could not allocate a version number under {folder}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def promote(self, name: str, version: int | None = None) -> ModelVersion:
        """Make a version the one scoring uses (default: the newest)."""
        versions = self.versions(name)
        if not versions:
            raise ModelError(self._none_message(name))
        chosen = version if version is not None else versions[-1]
        card = self.card(name, chosen)
        marker = self.root / name / PROMOTED
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(f"{chosen}\n", encoding="utf-8")
        tmp.replace(marker)
        return card

    def card_markdown(self, name: str, version: int | None = None) -> str:
        card = self.card(name, version)
        return (self._dir(name, card.version) / CARD_MD).read_text(encoding="utf-8")

    # -- helpers -------------------------------------------------------------------------
    def _choose(self, name: str, version: int | None) -> int:
        versions = self.versions(name)
        if not versions:
            raise ModelError(self._none_message(name))
        if version is None:
            promoted = self.promoted(name)
            return promoted if promoted in versions else versions[-1]
        if version not in versions:
            have = ", ".join(f"v{v}" for v in versions)
            raise ModelError(f"{name} has no version v{version}; trained versions: {have}")
        return version

    def _dir(self, name: str, version: int) -> Path:
        return self.root / name / f"v{version}"

    def _none_message(self, name: str) -> str:
        known = ", ".join(self.names()) or "none yet"
        return (f"no trained version of {name!r} (trained models: {known}); "
                f"run `finpersona model train {name}` first")


def replace_version(card: ModelVersion, number: int, sha256: str) -> ModelVersion:
    data = card.to_dict()
    data.update(version=number, estimator_sha256=sha256)
    return ModelVersion(**data)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
