"""The packaged tag catalogue, read as plain YAML: structural sanity of its content.

Independent of the catalogue loader: the files are read with ``yaml.safe_load`` and
checked against docs/tag-definitions.md (views, windows, measures, categories).
"""

from __future__ import annotations

import importlib
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from finpersona.synth.calendar import SPRING_FESTIVALS
from finpersona.tags.calendar import LUNAR_NEW_YEAR, festival_dates, is_festival
from finpersona.tags.expression import parse, tags_used

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE_DIR = ROOT / "src" / "finpersona" / "tags" / "catalogue"
DOC = ROOT / "docs" / "tag-definitions.md"
FILES = ("demographics", "assets", "consumption", "digital", "credit", "value", "lifecycle",
         "marketing", "service", "model")
CATEGORIES = {"demographics", "assets", "consumption", "digital", "credit", "value",
              "lifecycle", "marketing", "service", "risk", "model"}
KINDS = {"fact", "rule", "model"}
TYPES = {"bool", "int", "decimal", "category", "date"}
STATUSES = {"draft", "online", "offline", "retired"}
REFRESH = {"daily", "weekly", "monthly", "on_model_score"}
WINDOWS = {"7d", "30d", "90d", "180d", "365d", "lifetime"}
MEASURES = {"count", "exists", "sum", "avg", "min", "max", "count_distinct", "mode", "first",
            "last", "share", "value"}
NO_COLUMN = {"count", "exists", "share"}
TRANSFORMS = {"days_to_as_of", "months_to_as_of", "years_to_as_of"}
TAG_KEYS = {"name", "title", "description", "kind", "type", "status", "refresh", "category",
            "owner", "values", "fact", "rule", "python", "model", "bands"}
FACT_KEYS = {"source", "measure", "column", "filter", "where", "window", "transform",
             "default", "round"}
NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def documented_views() -> dict[str, bool]:
    """View name -> whether it has a time column, from the document's view table."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Source views", 1)[1].split("## Rule tags", 1)[0]
    views = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`(\w+)`\s*\|\s*([^|]+?)\s*\|", line)
        if m:
            views[m.group(1)] = m.group(2) != "none"
    return views


def load_files() -> dict[str, dict[str, Any]]:
    return {p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted(CATALOGUE_DIR.glob("*.yaml"))}


def all_tags() -> list[tuple[str, dict[str, Any]]]:
    """(file, tag with the file's category and owner filled in)."""
    out = []
    for stem, doc in load_files().items():
        for tag in doc["tags"]:
            full = {"category": doc["category"], "owner": doc["owner"], "status": "online",
                    "refresh": "daily", **tag}
            out.append((stem, full))
    return out


TAGS = all_tags()
TAG_IDS = [t["name"] for _, t in TAGS]


def test_one_file_per_category_each_with_defaults() -> None:
    files = load_files()
    assert sorted(files) == sorted(FILES)
    for stem, doc in files.items():
        assert set(doc) == {"category", "owner", "tags"}, stem
        assert doc["category"] == stem
        assert isinstance(doc["owner"], str) and doc["owner"]
        assert isinstance(doc["tags"], list) and doc["tags"]


def test_enough_online_tags_and_unique_snake_case_names() -> None:
    online = [t for _, t in TAGS if t["status"] == "online" and t["kind"] in ("fact", "rule")]
    assert len(online) >= 80
    names = [t["name"] for _, t in TAGS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert all(NAME.match(n) for n in names), [n for n in names if not NAME.match(n)]


def test_every_category_has_online_tags() -> None:
    per_file = dict.fromkeys(FILES, 0)
    for stem, t in TAGS:
        if t["status"] == "online":
            per_file[stem] += 1
    assert all(n >= 5 for n in per_file.values()), per_file


@pytest.mark.parametrize(("stem", "tag"), TAGS, ids=TAG_IDS)
def test_tag_is_described_for_business_users(stem: str, tag: dict[str, Any]) -> None:
    assert set(tag) <= TAG_KEYS, set(tag) - TAG_KEYS
    title = tag["title"]
    assert set(title) == {"zh", "en"}
    assert all(isinstance(v, str) and v.strip() for v in title.values())
    assert re.search(r"[\u4e00-\u9fff]", title["zh"]), "the zh title should be Chinese"
    assert isinstance(tag["description"], str) and len(tag["description"]) >= 20
    assert tag["kind"] in KINDS and tag["type"] in TYPES
    assert tag["status"] in STATUSES and tag["refresh"] in REFRESH
    assert tag["category"] in CATEGORIES and isinstance(tag["owner"], str) and tag["owner"]
    bodies = [k for k in ("fact", "rule", "python", "model") if k in tag]
    assert len(bodies) == 1, bodies
    if tag["kind"] == "rule":
        assert bodies == ["rule"]
    if tag["kind"] == "model":
        assert bodies == ["model"] and stem == "model"
        assert tag["refresh"] == "on_model_score" and set(tag["model"]) == {"name"}


@pytest.mark.parametrize(("stem", "tag"), TAGS, ids=TAG_IDS)
def test_category_values_bands_and_cases(stem: str, tag: dict[str, Any]) -> None:
    values = tag.get("values")
    if tag["type"] != "category":
        assert values is None and "bands" not in tag
        return
    assert isinstance(values, list) and values, "a category tag lists its values"
    assert all(isinstance(v, str) and v for v in values), values  # quoted, not YAML numbers
    assert len(values) == len(set(values))
    bands = tag.get("bands", [])
    bounds = [b["upto"] for b in bands if "upto" in b]
    assert bounds == sorted(bounds) and len(bounds) == len(set(bounds))
    if bands:
        assert "fact" in tag and "upto" not in bands[-1]
        assert all("upto" in b for b in bands[:-1])
    assert all(b["value"] in values for b in bands)
    rule = tag.get("rule")
    if isinstance(rule, dict):
        assert all(case["then"] in values for case in rule["cases"])
        assert rule.get("else") is None or rule["else"] in values
    if "fact" in tag and tag["fact"].get("default") is not None:
        assert tag["fact"]["default"] in values


@pytest.mark.parametrize(("stem", "tag"), [x for x in TAGS if "fact" in x[1]],
                         ids=[t["name"] for _, t in TAGS if "fact" in t])
def test_fact_uses_a_documented_view_measure_and_window(stem: str, tag: dict[str, Any]) -> None:
    views = documented_views()
    fact = tag["fact"]
    assert set(fact) <= FACT_KEYS, set(fact) - FACT_KEYS
    assert fact["source"] in views, fact["source"]
    assert fact["measure"] in MEASURES
    window = fact.get("window", "lifetime")
    assert window in WINDOWS
    if window != "lifetime":
        assert views[fact["source"]], "windows need a source with a time column"
        assert tag["name"].endswith(f"_{window}"), "windowed names end with the window"
    assert ("column" in fact) == (fact["measure"] not in NO_COLUMN)
    assert ("where" in fact) == (fact["measure"] == "share")
    if fact["measure"] == "value":
        assert fact["source"] == "customers"
    assert fact.get("transform") in (None, *TRANSFORMS)
    for key in ("filter", "where"):
        if key in fact:
            parse(fact[key])


def test_windowed_python_tags_and_every_python_function_exists() -> None:
    builtin = importlib.import_module("finpersona.tags.builtin")
    for _, tag in TAGS:
        if "python" in tag:
            module, func = tag["python"].split(":")
            assert module == "finpersona.tags.builtin"
            assert callable(getattr(builtin, func)), tag["python"]


def test_rules_parse_and_use_only_catalogue_tags() -> None:
    names = {t["name"] for _, t in TAGS}
    for _, tag in TAGS:
        rule = tag.get("rule")
        if rule is None:
            continue
        texts = [rule] if isinstance(rule, str) else [c["when"] for c in rule["cases"]]
        if isinstance(rule, str):
            assert tag["type"] == "bool"
        for text in texts:
            used = tags_used(parse(text))
            assert used <= names, (tag["name"], used - names)
            assert tag["name"] not in used


def test_rfm_segment_uses_the_eight_classic_classes() -> None:
    rfm = next(t for _, t in TAGS if t["name"] == "rfm_segment")
    assert rfm["values"] == ["重要价值", "重要发展", "重要保持", "重要挽留",
                             "一般价值", "一般发展", "一般保持", "一般挽留"]
    assert len(rfm["rule"]["cases"]) == 8


def test_model_tags_cover_the_planned_models() -> None:
    models = {t["name"] for _, t in TAGS if t["kind"] == "model"}
    assert {"credit_score", "credit_grade", "pd_12m", "churn_risk", "churn_probability",
            "clv_12m", "risk_preference", "cluster"} <= models
    assert len([m for m in models if m.startswith("propensity_")]) >= 5


def test_festival_calendar() -> None:
    assert sorted(LUNAR_NEW_YEAR) == list(range(2020, 2031))
    assert all(date(y, 1, 21) <= d <= date(y, 2, 20) for y, d in LUNAR_NEW_YEAR.items())
    for new_year in SPRING_FESTIVALS:  # the synthetic bank's calendar agrees
        assert LUNAR_NEW_YEAR[new_year.year] == new_year
    days = festival_dates(2025)
    assert len(days) == 9
    assert date(2025, 1, 28) in days and date(2025, 2, 3) in days  # 除夕 .. 初六
    assert date(2025, 1, 27) not in days and date(2025, 2, 4) not in days
    assert is_festival(date(2025, 6, 18)) and is_festival(date(2025, 11, 11))
    assert not is_festival(date(2025, 11, 12))
    assert festival_dates(2035) == {date(2035, 6, 18), date(2035, 11, 11)}
