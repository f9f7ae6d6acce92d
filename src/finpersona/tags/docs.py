"""Generate docs/tags.md from the packaged catalogue (a test fails when the page drifts).

Run ``python -m finpersona.tags.docs`` to rewrite the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from finpersona.tags.catalogue import Catalogue, load_catalogue
from finpersona.tags.model import TagDefinition
from finpersona.tags.types import TagKind

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "tags.md"
CATEGORY_TITLES = {
    "demographics": "人口属性 · Demographics and region",
    "assets": "资产持仓 · Assets and holdings",
    "consumption": "消费行为 · Consumption",
    "digital": "数字行为 · Digital behaviour",
    "credit": "信贷 · Credit",
    "value": "客户价值 · Value (RFM)",
    "lifecycle": "生命周期 · Lifecycle",
    "marketing": "营销 · Marketing and consent",
    "service": "服务 · Service",
    "risk": "风险 · Risk",
    "model": "模型 · Model outputs",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _definition(tag: TagDefinition) -> str:
    if tag.fact is not None:
        f = tag.fact
        parts = [f"`{f.measure.value}`" + (f"(`{f.column}`)" if f.column else ""),
                 f"of `{f.source}`"]
        if f.window != "lifetime":
            parts.append(f"over {f.window}")
        if f.filter:
            parts.append(f"where `{f.filter}`")
        if f.where:
            parts.append(f"share where `{f.where}`")
        if f.transform:
            parts.append(f"→ {f.transform.value}")
        if tag.bands:
            bands = ", ".join(f"<{b.upto}: {b.value}" if b.upto is not None else f"else {b.value}"
                              for b in tag.bands)
            parts.append(f"banded ({bands})")
        return " ".join(parts)
    if tag.rule is not None:
        if tag.rule.expression is not None:
            return f"rule `{tag.rule.expression}`"
        cases = "; ".join(f"`{c.when}` → {c.then}" for c in tag.rule.cases)
        tail = f"; else {tag.rule.otherwise}" if tag.rule.otherwise is not None else ""
        return f"rule: {cases}{tail}"
    if tag.python is not None:
        return f"python `{tag.python}`"
    return f"model `{tag.model}`"


def render(catalogue: Catalogue) -> str:
    tags = list(catalogue.tags.values())
    online = [t for t in tags if t.status.value == "online"]
    lines = [
        "# Tag catalogue (标签目录)",
        "",
        "Generated from `src/finpersona/tags/catalogue/*.yaml` by "
        "`python -m finpersona.tags.docs`; do not edit by hand. How to write a tag: "
        "[tag-definitions.md](tag-definitions.md).",
        "",
        f"{len(tags)} tags: {len(online)} online, of which "
        f"{sum(1 for t in online if t.kind is TagKind.FACT)} fact, "
        f"{sum(1 for t in online if t.kind is TagKind.RULE)} rule and "
        f"{sum(1 for t in online if t.kind is TagKind.MODEL)} model tags.",
        "",
        "| category | tags |",
        "|---|---:|",
    ]
    cats = catalogue.categories()
    for cat, members in cats.items():
        lines.append(f"| [{CATEGORY_TITLES.get(cat, cat)}](#{cat}) | {len(members)} |")
    for cat, members in cats.items():
        lines += ["", f'<a id="{cat}"></a>', "", f"## {CATEGORY_TITLES.get(cat, cat)}", "",
                  "| tag | 中文 / English | type | kind · status | definition | owner · refresh |",
                  "|---|---|---|---|---|---|"]
        for t in members:
            vtype = t.type.value + (f" ({', '.join(t.values)})" if t.values else "")
            lines.append(
                f"| `{t.name}` | {_cell(t.title_zh)} / {_cell(t.title_en)}<br>"
                f"{_cell(t.description)} | {_cell(vtype)} | {t.kind.value} · {t.status.value} | "
                f"{_cell(_definition(t))} | {t.owner} · {t.refresh} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    text = render(load_catalogue())
    DOC_PATH.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {DOC_PATH}\n")


if __name__ == "__main__":
    main()
