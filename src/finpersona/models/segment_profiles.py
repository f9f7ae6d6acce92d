"""What sets each segment apart: TGI profiles and readable names.

Every feature is compared between a segment and the whole base as audience profiles
do (:mod:`finpersona.audiences.profile`):

- a feature's **cells** are its values (a flag's true/false, a category's values) or,
  for a number, quantile bands of the base (quintiles by default; equal cut points
  merge, so a mostly-zero share has fewer bands); missing values are a cell of their own;
- per cell, segment share = segment members in the cell / segment size, base share =
  customers in the cell / base size, **TGI** = segment share / base share x 100;
- features are ranked by the **share gap**, the largest |segment share - base share|
  over their cells (|TGI - 100| weighted by the base share, so a value held by a
  handful of customers cannot top the list);
- a trait's direction is whether the segment's mean (a flag: its share of true) is
  above or below the base's; its **top cell** is the cell with the highest TGI among
  cells with at least ``min_count`` members of the segment.

**Names** join the words (:data:`TRAIT_WORDS`) of the two top-ranked traits: "年长·退休 /
Older, Retired". Segments are named in cluster order (largest first); a name an
earlier segment already has takes the next trait as its last word instead, and as a
last resort the segment number, so names are unique and the same data always gives
the same names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from finpersona.models.spec import ModelError
from finpersona.tags.bands import band_labels

# How a trait reads when the segment is above (first pair) or below (second) the base.
TRAIT_WORDS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "age": (("年长", "Older"), ("年轻", "Young")),
    "aum": (("高资产", "Affluent"), ("低资产", "Low assets")),
    "income_level": (("高收入", "High income"), ("低收入", "Low income")),
    "credit_utilisation": (("高用信", "Heavy credit use"), ("低用信", "Light credit use")),
    "has_time_deposit": (("定期持有", "Time-deposit holders"), ("无定期", "No time deposits")),
    "has_wealth": (("理财持有", "Wealth holders"), ("无理财", "No wealth products")),
    "has_fund": (("基金持有", "Fund holders"), ("无基金", "No funds")),
    "has_credit_card": (("持信用卡", "Cardholders"), ("无信用卡", "No credit card")),
    "has_loan": (("有贷款", "Borrowers"), ("无贷款", "No loans")),
    "sessions_365d": (("数字活跃", "Digitally active"), ("少用线上", "Rarely online")),
    "txn_count_365d": (("交易频繁", "Frequent transactors"), ("交易稀少", "Few transactions")),
    "is_student": (("学生", "Students"), ("非学生", "Non-students")),
    "is_retired": (("退休", "Retired"), ("在职", "Working age")),
    "is_entrepreneur": (("经营者", "Business owners"), ("非经营者", "Not business owners")),
    "purchase_log_ticket": (("大额消费", "Big tickets"), ("小额消费", "Small tickets")),
    "salary_share": (("代发工资", "Payroll"), ("少代发", "Little payroll")),
    "transfer_out_share": (("转账频繁", "Frequent transfers"), ("少转账", "Few transfers")),
    "cash_withdrawal_share": (("偏好现金", "Cash users"), ("少用现金", "Cashless")),
    "repayment_share": (("还款频繁", "Frequent repayments"), ("少还款", "Few repayments")),
    "interest_share": (("利息收入", "Interest earners"), ("少利息", "Little interest")),
    "early_hour_share": (("早间交易", "Early risers"), ("少早间交易", "Few mornings")),
    "office_hour_share": (("日间交易", "Daytime transactors"),
                          ("非工作时间交易", "Off-hours transactors")),
    "evening_hour_share": (("晚间交易", "Evening transactors"), ("少晚间交易", "Few evenings")),
    "late_hour_share": (("夜猫子", "Night owls"), ("作息规律", "Regular hours")),
    "pos_purchase_share": (("线下刷卡", "In-store shoppers"), ("少线下", "Few in-store")),
    "online_purchase_share": (("网购", "Online shoppers"), ("少网购", "Few online purchases")),
}
_CATEGORY_WORDS: dict[str, tuple[str, str]] = {
    "groceries": ("日常采购", "grocery"), "dining": ("餐饮", "dining"),
    "shopping": ("购物", "shopping"), "online_shopping": ("电商", "e-commerce"),
    "travel": ("旅行", "travel"), "transport": ("出行", "transport"),
    "auto_fuel": ("汽车加油", "motoring"), "health": ("医疗健康", "health"),
    "education": ("教育", "education"), "entertainment": ("娱乐", "entertainment"),
    "jewellery": ("珠宝", "jewellery"), "telecom_utilities": ("通讯缴费", "utilities"),
    "wholesale": ("批发采购", "wholesale"),
}
for _cat, (_zh, _en) in _CATEGORY_WORDS.items():
    TRAIT_WORDS[f"{_cat}_spend_share"] = ((f"偏好{_zh}", f"{_en.capitalize()}-heavy"),
                                          (f"少{_zh}消费", f"Little {_en}"))


def trait_words(feature: str, high: bool) -> tuple[str, str]:
    """(Chinese, English) words for a segment above (``high``) or below the base."""
    words = TRAIT_WORDS.get(feature)
    if words is not None:
        return words[0] if high else words[1]
    return (f"{feature}偏高", f"High {feature}") if high else (f"{feature}偏低", f"Low {feature}")



# -- profiles --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TraitCell:
    """One value (flag, category) or quantile band (number) of a feature within a segment."""

    value: str | None  # "true"/"false", a category, a band such as "(2, 5]"; None = missing
    segment_count: int
    base_count: int
    segment_share: float
    base_share: float
    tgi: float  # segment share / base share x 100

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "segment_count": self.segment_count,
                "base_count": self.base_count, "segment_share": round(self.segment_share, 4),
                "base_share": round(self.base_share, 4), "tgi": round(self.tgi, 1)}


@dataclass(frozen=True)
class Trait:
    """A feature that sets a segment apart: its share gap and its most over-represented cell."""

    feature: str
    high: bool  # the segment is above the base (mean of a number, share of a flag)
    gap: float  # max |segment share - base share| over the feature's cells
    top_cell: TraitCell  # the cell with the highest TGI (at least ``min_count`` members)
    segment_mean: float | None  # numbers and flags (share of true)
    base_mean: float | None
    words: tuple[str, str]  # (Chinese, English)

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "high": self.high, "gap": round(self.gap, 4),
                "top_cell": self.top_cell.to_dict(),
                "segment_mean": _round(self.segment_mean), "base_mean": _round(self.base_mean),
                "words": {"zh": self.words[0], "en": self.words[1]}}


@dataclass(frozen=True)
class SegmentProfile:
    """One segment: its size, readable name and most distinguishing traits."""

    cluster: int
    name_zh: str
    name_en: str
    size: int
    share: float
    traits: tuple[Trait, ...]

    @property
    def name(self) -> str:
        return f"{self.name_zh} / {self.name_en}"

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "name": {"zh": self.name_zh, "en": self.name_en},
                "size": self.size, "share": round(self.share, 4),
                "traits": [t.to_dict() for t in self.traits]}




def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


@dataclass(frozen=True)
class _Cells:
    """One feature coded for counting: a cell number per row and each cell's label."""

    codes: np.ndarray  # cell number per row; the last cell is "missing"
    labels: list[str | None]
    kind: str  # "flag", "number" or "category"
    values: np.ndarray | None  # float values of a flag or number, for the means


def profile_segments(X: pd.DataFrame, labels: Sequence[int] | np.ndarray, *, top: int = 5,
                     bands: int = 5, min_count: int = 10, name_traits: int = 2
                     ) -> list[SegmentProfile]:
    """Profile and name every segment of ``labels`` against the whole of ``X``.

    Columns may be numbers, flags or categories (text). ``X`` is usually the model's own
    input (raw values, before any transformation), or any tag frame with the same rows,
    to profile by tags the model did not use.
    """
    if len(X) != len(labels):
        raise ModelError(f"profile needs one label per row: {len(X)} rows, {len(labels)} labels")
    if top < 1 or not 2 <= bands <= 20 or name_traits < 1:
        raise ModelError("top and name_traits must be at least 1 and bands between 2 and 20")
    lab = np.asarray(labels)
    coded = {str(c): _cells_of(X[c], bands) for c in X.columns}
    base_counts = {c: np.bincount(cells.codes, minlength=len(cells.labels))
                   for c, cells in coded.items()}
    base_means = {c: _mean(cells.values) for c, cells in coded.items()}
    profiles: list[SegmentProfile] = []
    taken: set[str] = set()
    for cluster in sorted(set(lab.tolist())):
        member = lab == cluster
        traits = [_trait(c, cells, base_counts[c], base_means[c], member, min_count)
                  for c, cells in coded.items()]
        traits.sort(key=lambda t: (-t.gap, t.feature))
        zh, en = _unique_name(traits, name_traits, int(cluster), taken)
        profiles.append(SegmentProfile(int(cluster), zh, en, int(member.sum()),
                                       float(member.mean()), tuple(traits[:top])))
    return profiles


def _cells_of(column: pd.Series, bands: int) -> _Cells:
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = np.asarray(column.astype("float64").to_numpy(dtype="float64",
                                                              na_value=np.nan))
        missing = np.isnan(values)
        if pd.api.types.is_bool_dtype(column):
            codes = np.where(values > 0, 0, 1)
            labels: list[str | None] = ["true", "false"]
            kind = "flag"
        else:
            present = values[~missing]
            probs = [i / bands for i in range(1, bands)]
            cuts = sorted(set(np.quantile(present, probs).tolist())) if len(present) else []
            if pd.api.types.is_integer_dtype(column):
                cuts = sorted({float(math.floor(c)) for c in cuts})
            # Band i holds values up to cuts[i] (the last band: above the last cut).
            codes = np.searchsorted(np.asarray(cuts, dtype="float64"), values, side="left")
            labels = list[str | None](band_labels(cuts, _num))
            kind = "number"
        codes = np.where(missing, len(labels), codes)
        return _Cells(codes.astype(np.int64), [*labels, None], kind, values)
    codes, uniques = pd.factorize(column, sort=True)
    labels = [str(u) for u in uniques]
    codes = np.where(codes < 0, len(labels), codes)
    return _Cells(np.asarray(codes, dtype=np.int64), [*labels, None], "category", None)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _mean(values: np.ndarray | None) -> float | None:
    if values is None or np.isnan(values).all():
        return None
    return float(np.nanmean(values))


def _trait(feature: str, cells: _Cells, base_counts: np.ndarray, base_mean: float | None,
           member: np.ndarray, min_count: int) -> Trait:
    n_seg, n_base = int(member.sum()), len(member)
    seg_counts = np.bincount(cells.codes[member], minlength=len(cells.labels))
    out = [TraitCell(label, int(s), int(b), s / n_seg, b / n_base, s / n_seg / (b / n_base) * 100)
           for label, s, b in zip(cells.labels, seg_counts, base_counts, strict=True) if b > 0]
    gap = max(abs(c.segment_share - c.base_share) for c in out)
    shown = [c for c in out if c.segment_count >= min_count] or out
    top_cell = max(shown, key=lambda c: (c.tgi, c.segment_count))
    if cells.kind == "category":
        return Trait(feature, True, gap, top_cell, None, None,
                     (f"{feature}:{top_cell.value}", f"{feature}: {top_cell.value}"))
    assert cells.values is not None
    seg_mean = _mean(cells.values[member])
    high = seg_mean is None or base_mean is None or seg_mean >= base_mean
    return Trait(feature, high, gap, top_cell, seg_mean, base_mean, trait_words(feature, high))


def _unique_name(traits: Sequence[Trait], n: int, cluster: int, taken: set[str]
                 ) -> tuple[str, str]:
    """The first ``n`` traits' words; on a clash with an earlier segment the last word
    moves down the list, and as a last resort the segment number is appended."""
    if not traits:
        name = (f"客群{cluster}", f"Segment {cluster}")
    else:
        head = list(traits[: n - 1])
        candidates = [[*head, t] for t in traits[n - 1:]] or [list(traits)]
        name = _join(candidates[0])
        for words in candidates:
            if _join(words)[0] not in taken:
                name = _join(words)
                break
        else:
            name = (f"{name[0]}({cluster})", f"{name[1]} ({cluster})")
    taken.add(name[0])
    return name


def _join(traits: Sequence[Trait]) -> tuple[str, str]:
    return ("·".join(t.words[0] for t in traits), ", ".join(t.words[1] for t in traits))
