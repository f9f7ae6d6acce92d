"""Catalogue validation: every problem is reported with its file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from finpersona.tags.catalogue import CatalogueError, load_catalogue, rule_order
from finpersona.tags.types import TagKind, ValueType

HEADER = "category: test\nowner: qa\ntags:\n"


def _write(tmp_path: Path, body: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


def _problems(*files: Path) -> list[str]:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(files=list(files))
    return info.value.problems


FACT = """\
  - name: {name}
    title: {{zh: 标签, en: A tag}}
    description: Counts things.
    kind: fact
    type: int
    fact: {{source: transactions, measure: count, window: 30d}}
"""


def test_a_valid_file_loads_with_defaults_from_the_file(tmp_path: Path) -> None:
    cat = load_catalogue(files=[_write(tmp_path, FACT.format(name="txn_count_30d"))])
    tag = cat.get("txn_count_30d")
    assert (tag.category, tag.owner, tag.kind, tag.type) == ("test", "qa", TagKind.FACT,
                                                             ValueType.INT)
    assert tag.fact is not None and tag.fact.default == 0 and tag.fact.window_days == 30
    assert tag.origin.line == 4


def test_unknown_source_and_column_name_the_line_and_suggest(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
      - name: a
        title: {zh: 甲, en: A}
        description: x
        kind: fact
        type: decimal
        fact: {source: transaction, measure: sum, column: amount}
      - name: b
        title: {zh: 乙, en: B}
        description: x
        kind: fact
        type: decimal
        fact: {source: transactions, measure: sum, column: amout}
    """)
    problems = _problems(path)
    assert any(p.startswith(f"{path}:9:") and "unknown source view 'transaction'" in p
               and "transactions" in p for p in problems), problems
    assert any(f"{path}:10:" in p and "no column 'amout'" in p and "amount" in p
               for p in problems), problems


def test_duplicate_names_and_unknown_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, FACT.format(name="x") + FACT.format(name="x")
                  + FACT.format(name="y").replace("kind: fact", "kind: fact\n    colour: red"))
    problems = _problems(path)
    assert any("duplicate tag name 'x'" in p and f"{path}:4" in p for p in problems), problems
    assert any("unknown key 'colour'" in p for p in problems), problems


def test_type_errors_are_explained(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
      - name: a
        title: {zh: 甲, en: A}
        description: x
        kind: fact
        type: bool
        fact: {source: transactions, measure: sum, column: amount}
      - name: b
        title: {zh: 乙, en: B}
        description: x
        kind: fact
        type: decimal
        fact: {source: transactions, measure: avg, column: channel}
      - name: c
        title: {zh: 丙, en: C}
        description: x
        kind: fact
        type: category
        fact: {source: customers, measure: value, column: city_tier}
    """)
    problems = _problems(path)
    assert any("tag 'a'" in p and "type is bool" in p for p in problems), problems
    assert any("tag 'b'" in p and "numeric column" in p for p in problems), problems
    assert any("tag 'c'" in p and "needs 'values'" in p for p in problems), problems


def test_a_bad_filter_reports_the_expression_position(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
      - name: a
        title: {zh: 甲, en: A}
        description: x
        kind: fact
        type: int
        fact: {source: transactions, measure: count, filter: "chanel = 'app'"}
    """)
    problems = _problems(path)
    assert any("filter" in p and "chanel" in p and "channel" in p for p in problems), problems


def test_rule_cycles_and_unknown_tags(tmp_path: Path) -> None:
    rule = """\
  - name: {name}
    title: {{zh: 规则, en: Rule}}
    description: x
    kind: rule
    type: bool
    rule: "{expr}"
"""
    path = _write(tmp_path, rule.format(name="r1", expr="r2 AND r3")
                  + rule.format(name="r2", expr="r1")
                  + rule.format(name="r3", expr="txn_cont_30d > 1")
                  + FACT.format(name="txn_count_30d"))
    problems = _problems(path)
    assert any("cycle" in p and "r1 → r2 → r1" in p for p in problems), problems
    assert any("txn_cont_30d" in p and "txn_count_30d" in p for p in problems), problems


def test_rules_are_ordered_by_dependency(tmp_path: Path) -> None:
    path = _write(tmp_path, FACT.format(name="n") + """\
  - name: top
    title: {zh: 上, en: Top}
    description: x
    kind: rule
    type: bool
    rule: "mid AND n > 2"
  - name: mid
    title: {zh: 中, en: Mid}
    description: x
    kind: rule
    type: category
    values: [hi, lo]
    rule:
      cases:
        - {when: "n > 5", then: hi}
      else: lo
""".replace("mid AND", "mid = 'hi' AND"))
    levels = rule_order(load_catalogue(files=[path]))
    assert [[t.name for t in level] for level in levels] == [["mid"], ["top"]]


def test_band_and_case_values_must_be_listed(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
      - name: a
        title: {zh: 甲, en: A}
        description: x
        kind: fact
        type: category
        values: [low, high]
        fact: {source: transactions, measure: sum, column: amount}
        bands:
          - {upto: 100, value: low}
          - {value: huge}
    """)
    assert any("band value 'huge'" in p for p in _problems(path))


def test_workspace_files_replace_packaged_tags_by_name(tmp_path: Path) -> None:
    ws_tags = tmp_path / "tags"
    ws_tags.mkdir()
    packaged = load_catalogue()
    name = next(iter(packaged.tags))
    (ws_tags / "mine.yaml").write_text(HEADER + FACT.format(name=name)
                                       + FACT.format(name="my_new_tag"), encoding="utf-8")
    cat = load_catalogue(ws_tags)
    assert name in cat.replaced and "my_new_tag" in cat.tags
    assert cat.get(name).category == "test"


def test_the_packaged_catalogue_loads_and_is_big_enough() -> None:
    cat = load_catalogue()
    online = list(cat.computed())
    assert len(online) >= 80
    models = [t for t in cat.tags.values() if t.kind is TagKind.MODEL]
    assert {"credit_grade", "churn_risk", "clv_12m", "risk_preference"} <= {t.name for t in models}
