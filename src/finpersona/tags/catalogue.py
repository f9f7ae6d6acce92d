"""Load and validate the tag catalogue: the packaged YAML files plus the workspace's own.

Every problem is reported with the file and line where it was declared, all at
once, so a data engineer fixes a file in one go. See docs/tag-definitions.md.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from finpersona.tags.expression import ExpressionError, compile_expression
from finpersona.tags.expression.ast import Node, tags_used
from finpersona.tags.model import (
    WINDOWS,
    Band,
    FactDefinition,
    Measure,
    Origin,
    RuleCase,
    RuleDefinition,
    TagDefinition,
    Transform,
)
from finpersona.tags.sources import VIEWS, view_signatures
from finpersona.tags.types import TagKind, TagSignature, TagStatus, ValueType

PACKAGED_DIR = Path(__file__).parent / "catalogue"
LINE = "__line__"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
FILE_KEYS = {"category", "owner", "tags"}
TAG_KEYS = {"name", "title", "description", "category", "kind", "type", "status", "refresh",
            "owner", "values", "fact", "rule", "python", "model", "bands"}
FACT_KEYS = {"source", "measure", "column", "filter", "where", "window", "transform",
             "default", "round"}
REFRESH = {"daily", "weekly", "monthly", "on_model_score"}
NUMERIC_MEASURES = {Measure.SUM, Measure.AVG}
ORDERED_MEASURES = {Measure.MIN, Measure.MAX}
NO_COLUMN = {Measure.COUNT, Measure.EXISTS, Measure.SHARE}


class CatalogueError(Exception):
    """The catalogue has problems; ``problems`` lists them as ``file:line: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("tag catalogue has {} problem{}:\n  {}".format(
            len(problems), "" if len(problems) == 1 else "s", "\n  ".join(problems)))


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping (for error messages)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping[LINE] = node.start_mark.line + 1
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass
class Catalogue:
    tags: dict[str, TagDefinition] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    replaced: dict[str, str] = field(default_factory=dict)  # name -> origin it replaced

    def signatures(self) -> dict[str, TagSignature]:
        """Signatures of every tag an expression may use (not retired ones)."""
        return {n: t.signature for n, t in self.tags.items()
                if t.status is not TagStatus.RETIRED}

    def get(self, name: str) -> TagDefinition:
        try:
            return self.tags[name]
        except KeyError:
            near = difflib.get_close_matches(name, list(self.tags), n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise KeyError(f"no tag named {name!r}{hint}") from None

    def computed(self) -> list[TagDefinition]:
        """Tags a build computes: online fact and rule tags."""
        return [t for t in self.tags.values() if t.is_computed]

    def snapshot_tags(self) -> list[TagDefinition]:
        """Columns of the tag snapshot: computed tags plus online model tags (null until scored)."""
        return [t for t in self.tags.values() if t.status is TagStatus.ONLINE]

    def categories(self) -> dict[str, list[TagDefinition]]:
        out: dict[str, list[TagDefinition]] = {}
        for t in self.tags.values():
            out.setdefault(t.category, []).append(t)
        return out


def catalogue_files(workspace_tags_dir: Path | None = None) -> list[Path]:
    files = sorted(PACKAGED_DIR.glob("*.yaml"))
    if workspace_tags_dir is not None and workspace_tags_dir.is_dir():
        files += sorted(workspace_tags_dir.glob("*.yaml"))
    return files


def load_catalogue(workspace_tags_dir: Path | None = None,
                   files: Iterable[Path] | None = None) -> Catalogue:
    """The packaged catalogue, extended (and overridden by name) by the workspace's files."""
    paths = list(files) if files is not None else catalogue_files(workspace_tags_dir)
    problems: list[str] = []
    catalogue = Catalogue(files=paths)
    seen: dict[str, Origin] = {}
    for path in paths:
        packaged = path.parent == PACKAGED_DIR
        for tag in _read_file(path, problems):
            if tag.name in seen:
                earlier = seen[tag.name]
                same_layer = (Path(earlier.file).parent == PACKAGED_DIR) == packaged
                if same_layer:
                    problems.append(f"{tag.origin}: duplicate tag name {tag.name!r} "
                                    f"(first declared at {earlier})")
                    continue
                catalogue.replaced[tag.name] = str(earlier)
            seen[tag.name] = tag.origin
            catalogue.tags[tag.name] = tag
    _check_expressions(catalogue, problems)
    if problems:
        raise CatalogueError(problems)
    return catalogue


def _read_file(path: Path, problems: list[str]) -> list[TagDefinition]:
    name = str(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problems.append(f"{name}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}")
        return []
    except OSError as exc:
        problems.append(f"{name}:1: cannot read: {exc}")
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("tags"), list):
        problems.append(f"{name}:1: expected a mapping with a 'tags' list")
        return []
    _unknown_keys(doc, FILE_KEYS, Origin(name, doc[LINE]), "file", problems)
    defaults = {"category": doc.get("category"), "owner": doc.get("owner")}
    out = []
    for item in doc["tags"]:
        if not isinstance(item, dict):
            problems.append(f"{name}:{doc[LINE]}: every entry of 'tags' must be a mapping")
            continue
        tag = _parse_tag(item, Origin(name, item[LINE]), defaults, problems)
        if tag is not None:
            out.append(tag)
    return out


def _unknown_keys(item: Mapping[str, Any], allowed: set[str], origin: Origin, what: str,
                  problems: list[str]) -> None:
    for key in item:
        if key != LINE and key not in allowed:
            near = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            problems.append(f"{origin}: unknown key {key!r} in {what}{hint}")


def _enum(value: Any, enum: type[Any], origin: Origin, what: str, problems: list[str]) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        problems.append(f"{origin}: {what} {value!r} is not one of {allowed}")
        return None


def _parse_tag(item: dict[str, Any], origin: Origin, defaults: dict[str, Any],
               problems: list[str]) -> TagDefinition | None:
    before = len(problems)
    _unknown_keys(item, TAG_KEYS, origin, "tag", problems)
    name = item.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(f"{origin}: tag name {name!r} must be snake_case ascii "
                        "(letters, digits, underscores; starting with a letter)")
        return None
    where = f"{origin}: tag {name!r}"
    title = item.get("title")
    if not (isinstance(title, dict) and title.get("zh") and title.get("en")
            and set(title) - {LINE} == {"zh", "en"}):
        # A stray key is usually an unquoted comma: {en: Spend, last 90 days}.
        problems.append(f"{where}: needs title: {{zh: ..., en: ...}} with exactly those two "
                        "keys (quote a title that contains a comma)")
        title = {"zh": "", "en": ""}
    description = item.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append(f"{where}: needs a description")
    category = item.get("category", defaults["category"])
    owner = item.get("owner", defaults["owner"])
    if not category:
        problems.append(f"{where}: needs a category (on the tag or the file)")
    if not owner:
        problems.append(f"{where}: needs an owner (on the tag or the file)")
    kind = _enum(item.get("kind"), TagKind, origin, "kind", problems)
    vtype = _enum(item.get("type"), ValueType, origin, "type", problems)
    status = _enum(item.get("status", "online"), TagStatus, origin, "status", problems)
    refresh = item.get("refresh", "daily")
    if refresh not in REFRESH:
        problems.append(f"{where}: refresh {refresh!r} is not one of {', '.join(sorted(REFRESH))}")
    values = _parse_values(item.get("values"), vtype, where, problems)
    _check_bodies(item, kind, where, problems)
    fact = _parse_fact(item["fact"], origin, name, vtype, problems) if "fact" in item else None
    rule = _parse_rule(item["rule"], where, problems) if "rule" in item else None
    python = item.get("python")
    if python is not None:
        _check_python(python, where, problems)
    model_name = _parse_model(item.get("model"), where, problems)
    bands = _parse_bands(item.get("bands"), where, vtype, fact, values, problems)
    if len(problems) > before or kind is None or vtype is None or status is None:
        return None
    tag = TagDefinition(
        name=name, title_zh=str(title["zh"]), title_en=str(title["en"]),
        description=str(description).strip(), category=str(category), kind=kind, type=vtype,
        owner=str(owner), origin=origin, status=status, refresh=refresh,
        values=tuple(values) if values is not None else None, fact=fact, rule=rule,
        python=python, model=model_name, bands=bands)
    _check_fact_types(tag, problems)
    _check_rule_values(tag, problems)
    return tag


def _parse_values(values: Any, vtype: ValueType | None, where: str,
                  problems: list[str]) -> list[str] | None:
    if vtype is not ValueType.CATEGORY:
        if values is not None:
            problems.append(f"{where}: only category tags list 'values'")
        return None
    if not (isinstance(values, list) and values and all(isinstance(v, str | int)
                                                         for v in values)):
        problems.append(f"{where}: a category tag needs 'values', the list of allowed values")
        return []
    out = [str(v) for v in values]
    if len(set(out)) != len(out):
        problems.append(f"{where}: 'values' lists a value twice")
    return out


def _check_bodies(item: Mapping[str, Any], kind: TagKind | None, where: str,
                  problems: list[str]) -> None:
    bodies = [k for k in ("fact", "python", "rule", "model") if k in item]
    expected = {TagKind.FACT: ("fact", "python"), TagKind.RULE: ("rule",),
                TagKind.MODEL: ("model",)}.get(kind, ()) if kind is not None else ()
    if len(bodies) != 1 or bodies[0] not in expected:
        problems.append(f"{where}: a {kind or '?'} tag needs exactly one of "
                        f"{' or '.join(expected) or 'fact/python/rule/model'}; found "
                        f"{', '.join(bodies) or 'none'}")


def _parse_model(model: Any, where: str, problems: list[str]) -> str | None:
    if model is None:
        return None
    if not (isinstance(model, dict) and isinstance(model.get("name"), str)):
        problems.append(f"{where}: model needs {{name: MODEL}}")
        return None
    return str(model["name"])


def _parse_fact(raw: Any, origin: Origin, name: str, vtype: ValueType | None,
                problems: list[str]) -> FactDefinition | None:
    if not isinstance(raw, dict):
        problems.append(f"{origin}: tag {name!r}: 'fact' must be a mapping")
        return None
    here = Origin(origin.file, int(raw.get(LINE, origin.line)))
    at = f"{here}: tag {name!r}"
    _unknown_keys(raw, FACT_KEYS, here, "fact", problems)
    source = raw.get("source")
    if source not in VIEWS:
        near = difflib.get_close_matches(str(source), list(VIEWS), n=2)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        problems.append(f"{at}: unknown source view {source!r}{hint}")
        return None
    measure = _measure(raw.get("measure"), at, problems)
    if measure is None:
        return None
    window = str(raw.get("window", "lifetime"))
    if window not in WINDOWS:
        problems.append(f"{at}: window {window!r} is not one of {', '.join(WINDOWS)}")
        return None
    if WINDOWS[window] is not None and VIEWS[source].time_column is None:
        problems.append(f"{at}: source {source!r} has no time column, so no window "
                        f"({window}); use lifetime")
    transform = None
    if raw.get("transform") is not None:
        try:
            transform = Transform(raw["transform"])
        except ValueError:
            problems.append(f"{at}: transform {raw['transform']!r} is not one of "
                            f"{', '.join(t.value for t in Transform)}")
    rnd = raw.get("round", 4)
    if not isinstance(rnd, int) or not 0 <= rnd <= 8:
        problems.append(f"{at}: round must be an integer 0..8")
        rnd = 4
    column = raw.get("column")
    _check_measure_shape(raw, source, measure, at, problems)
    default = raw.get("default")
    if default is None and vtype is not None:
        default = _implicit_default(measure)
    return FactDefinition(source=source, measure=measure, column=column,
                          filter=raw.get("filter"), where=raw.get("where"), window=window,
                          transform=transform, default=default, round=rnd)


def _check_measure_shape(raw: Mapping[str, Any], source: str, measure: Measure, at: str,
                         problems: list[str]) -> None:
    column = raw.get("column")
    if measure in NO_COLUMN and column is not None:
        problems.append(f"{at}: measure {measure.value} takes no column")
    if measure not in NO_COLUMN and not isinstance(column, str):
        problems.append(f"{at}: measure {measure.value} needs a column")
    if measure is Measure.SHARE and not raw.get("where"):
        problems.append(f"{at}: measure share needs 'where' (the rows whose share is measured)")
    if measure is not Measure.SHARE and raw.get("where"):
        problems.append(f"{at}: 'where' is only for measure share (use 'filter')")
    if measure is Measure.VALUE and VIEWS[source].time_column is not None:
        problems.append(f"{at}: measure value needs a one-row-per-customer source "
                        "(customers); use first/last on others")


def _measure(value: Any, at: str, problems: list[str]) -> Measure | None:
    try:
        return Measure(value)
    except ValueError:
        problems.append(f"{at}: measure {value!r} is not one of "
                        f"{', '.join(m.value for m in Measure)}")
        return None


def _implicit_default(measure: Measure) -> Any:
    if measure in (Measure.COUNT, Measure.SUM, Measure.COUNT_DISTINCT):
        return 0
    if measure is Measure.EXISTS:
        return False
    return None


def _parse_rule(raw: Any, where: str, problems: list[str]) -> RuleDefinition | None:
    if isinstance(raw, str):
        return RuleDefinition(expression=raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("cases"), list):
        problems.append(f"{where}: 'rule' is an expression, or {{cases: [...], else: ...}}")
        return None
    cases = []
    for case in raw["cases"]:
        if not (isinstance(case, dict) and isinstance(case.get("when"), str) and "then" in case):
            problems.append(f"{where}: every case needs 'when' (an expression) and 'then'")
            continue
        cases.append(RuleCase(case["when"], case["then"]))
    return RuleDefinition(cases=tuple(cases), otherwise=raw.get("else"))


def _check_python(ref: Any, where: str, problems: list[str]) -> None:
    if not isinstance(ref, str) or ":" not in ref:
        problems.append(f"{where}: python must be 'module:function'")
        return
    module, func = ref.split(":", 1)
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        problems.append(f"{where}: cannot import {module!r}: {exc}")
        return
    if not callable(getattr(mod, func, None)):
        problems.append(f"{where}: {module!r} has no function {func!r}")


def _parse_bands(raw: Any, where: str, vtype: ValueType | None, fact: FactDefinition | None,
                 values: list[str] | None, problems: list[str]) -> tuple[Band, ...]:
    if raw is None:
        return ()
    if vtype is not ValueType.CATEGORY or fact is None:
        problems.append(f"{where}: bands turn a fact measure into a category tag; "
                        "they need kind fact (declarative) and type category")
        return ()
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: bands must be a list of {{upto: N, value: V}}")
        return ()
    bands = []
    last_upto: Decimal | None = None
    for i, b in enumerate(raw):
        if not isinstance(b, dict) or "value" not in b:
            problems.append(f"{where}: band {i + 1} needs a value")
            continue
        upto = b.get("upto")
        is_last = i == len(raw) - 1
        if upto is None and not is_last:
            problems.append(f"{where}: only the last band may leave out 'upto'")
        if upto is not None and is_last:
            problems.append(f"{where}: the last band must leave out 'upto' (it catches the rest)")
        bound = None
        if upto is not None:
            try:
                bound = Decimal(str(upto))
            except InvalidOperation:
                problems.append(f"{where}: band {i + 1}: upto {upto!r} is not a number")
                continue
            if last_upto is not None and bound <= last_upto:
                problems.append(f"{where}: band bounds must increase ({bound} after {last_upto})")
            last_upto = bound
        if values is not None and str(b["value"]) not in values:
            problems.append(f"{where}: band value {b['value']!r} is not among values")
        bands.append(Band(str(b["value"]), bound))
    return tuple(bands)


def _column_type(tag: TagDefinition) -> ValueType | None:
    assert tag.fact is not None
    sigs = view_signatures(tag.fact.source)
    if tag.fact.column is None:
        return None
    sig = sigs.get(tag.fact.column)
    return sig.type if sig else None


def _check_fact_types(tag: TagDefinition, problems: list[str]) -> None:
    fact = tag.fact
    if fact is None:
        return
    where = f"{tag.origin}: tag {tag.name!r}"
    sigs = view_signatures(fact.source)
    if fact.column is not None and fact.column not in sigs:
        near = difflib.get_close_matches(fact.column, list(sigs), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        problems.append(f"{where}: source {fact.source!r} has no column {fact.column!r}{hint}")
        return
    col = _column_type(tag)
    m = fact.measure
    if m in NUMERIC_MEASURES and col is not None and not col.is_numeric:
        problems.append(f"{where}: {m.value} needs a numeric column; {fact.column} is {col}")
    if m in ORDERED_MEASURES and col is ValueType.BOOL:
        problems.append(f"{where}: {m.value} needs a numeric, date or category column; "
                        f"{fact.column} is {col}")
    result = _result_type(m, col)
    if fact.transform is not None:
        if result is not ValueType.DATE:
            problems.append(f"{where}: transform {fact.transform.value} needs a date result; "
                            f"{m.value} of {fact.column} is {result}")
        result = ValueType.INT
    if tag.bands:
        if result is not None and not result.is_numeric:
            problems.append(f"{where}: bands need a numeric measure; got {result}")
    elif result is not None and not _fits(result, tag.type):
        problems.append(f"{where}: {m.value} of {fact.column or 'rows'} gives {result}, "
                        f"but the tag's type is {tag.type}")
    for text, label in ((fact.filter, "filter"), (fact.where, "where")):
        if text:
            try:
                compile_expression(text, sigs)
            except ExpressionError as exc:
                problems.append(f"{where}: {label}: {exc}")


def _result_type(m: Measure, col: ValueType | None) -> ValueType | None:
    if m in (Measure.COUNT, Measure.COUNT_DISTINCT):
        return ValueType.INT
    if m is Measure.EXISTS:
        return ValueType.BOOL
    if m in (Measure.SHARE, Measure.AVG):
        return ValueType.DECIMAL
    return col


def _fits(result: ValueType, declared: ValueType) -> bool:
    if result == declared:
        return True
    # Sums of integer columns may be declared decimal and vice versa where values are whole.
    return result.is_numeric and declared.is_numeric


def _check_rule_values(tag: TagDefinition, problems: list[str]) -> None:
    rule = tag.rule
    if rule is None:
        return
    where = f"{tag.origin}: tag {tag.name!r}"
    if rule.expression is not None and tag.type is not ValueType.BOOL:
        problems.append(f"{where}: a rule given as one expression is a bool tag; "
                        "use cases for other types")
    outcomes = [c.then for c in rule.cases] + ([rule.otherwise] if rule.otherwise is not None
                                               else [])
    for value in outcomes:
        if not _value_fits(value, tag):
            problems.append(f"{where}: rule value {value!r} does not fit type {tag.type}"
                            + (f" with values {list(tag.values)}" if tag.values else ""))


def _value_fits(value: Any, tag: TagDefinition) -> bool:
    if tag.type is ValueType.CATEGORY:
        return tag.values is not None and str(value) in tag.values
    if tag.type is ValueType.BOOL:
        return isinstance(value, bool)
    if tag.type is ValueType.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if tag.type is ValueType.DECIMAL:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


def rule_nodes(tag: TagDefinition, signatures: Mapping[str, TagSignature]) -> list[Node]:
    """The compiled expressions of a rule tag, in order (raises ExpressionError)."""
    assert tag.rule is not None
    if tag.rule.expression is not None:
        return [compile_expression(tag.rule.expression, signatures)]
    return [compile_expression(c.when, signatures) for c in tag.rule.cases]


def _check_expressions(catalogue: Catalogue, problems: list[str]) -> None:
    """Rules must parse, name known tags, type-check, and not depend on themselves."""
    sigs = catalogue.signatures()
    deps: dict[str, set[str]] = {}
    for tag in catalogue.tags.values():
        if tag.rule is None:
            continue
        try:
            nodes = rule_nodes(tag, sigs)
        except ExpressionError as exc:
            problems.append(f"{tag.origin}: tag {tag.name!r}: rule: {exc}")
            continue
        deps[tag.name] = set().union(*(tags_used(n) for n in nodes))
        for dep in sorted(deps[tag.name]):
            dep_tag = catalogue.tags[dep]
            if tag.is_computed and dep_tag.status is not TagStatus.ONLINE:
                problems.append(f"{tag.origin}: tag {tag.name!r}: online rule uses {dep!r}, "
                                f"which is {dep_tag.status.value}")
    for cycle in _cycles(deps):
        first = catalogue.tags[cycle[0]]
        problems.append(f"{first.origin}: rule tags depend on each other in a cycle: "
                        + " → ".join([*cycle, cycle[0]]))


def _cycles(deps: Mapping[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(deps.get(name, ())):
            if state.get(dep) == 1:
                found.append(stack[stack.index(dep):])
            elif dep in deps and state.get(dep) is None:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in sorted(deps):
        if state.get(name) is None:
            visit(name)
    return found


def rule_order(catalogue: Catalogue) -> list[list[TagDefinition]]:
    """Computed rule tags in levels: each level only uses tags of earlier levels or facts."""
    sigs = catalogue.signatures()
    rules = {t.name: t for t in catalogue.computed() if t.rule is not None}
    deps = {n: set().union(*(tags_used(x) for x in rule_nodes(t, sigs))) & set(rules)
            for n, t in rules.items()}
    levels: list[list[TagDefinition]] = []
    done: set[str] = set()
    while len(done) < len(rules):
        level = [rules[n] for n in rules if n not in done and deps[n] <= done]
        if not level:  # cycles are reported at load time; this is a guard
            raise CatalogueError([f"cycle among {sorted(set(rules) - done)}"])
        levels.append(level)
        done |= {t.name for t in level}
    return levels
