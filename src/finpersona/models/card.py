"""The model card: what a model-risk reviewer reads first (purpose, data, metrics, limits)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finpersona.models.registry import ModelVersion


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _metric_rows(metrics: dict[str, Any]) -> list[str]:
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict | list):
            continue  # tables (lift, bins) are in card.json; the card shows the headline
        rows.append(f"| {key} | {_value(value)} |")
    return rows


def _segments(report: Any) -> list[str]:
    """Segment names, sizes and defining traits, when the model reports segments."""
    if not isinstance(report, dict) or not report.get("segments"):
        return []
    lines = ["## Segments", "", "| segment | name | share | what sets it apart |",
             "|---:|---|---:|---|"]
    for seg in report["segments"]:
        traits = ", ".join(t["words"]["en"] for t in seg.get("traits", [])[:3])
        name = seg.get("name", {})
        lines.append(f"| {seg.get('cluster')} | {name.get('zh', '')} / {name.get('en', '')} | "
                     f"{float(seg.get('share', 0)):.1%} | {traits} |")
    return [*lines, ""]


def card_markdown(card: ModelVersion) -> str:
    """Markdown; ``{version}`` is filled in by the registry when the number is known."""
    lines = [
        f"# Model card: {card.name} {{version}}",
        "",
        f"**{card.title.get('en', card.name)}** · {card.title.get('zh', '')}",
        "",
        "## Purpose",
        "",
        card.purpose,
        "",
        "## Data",
        "",
        f"- Training snapshot: {card.training_as_of} ({card.rows.get('train', 0):,} customers)",
        f"- Held-out data: {card.split} ({card.rows.get('test', 0):,} customers)",
        f"- Data fingerprint (SHA-256): `{card.fingerprint}`",
        f"- Engine: {card.engine}; trained {card.created_at}",
        f"- Features ({len(card.features)}): {', '.join(f'`{f}`' for f in card.features)}",
        f"- Writes the tags: {', '.join(f'`{o}`' for o in card.outputs)}",
        "",
        "## Held-out metrics",
        "",
        "| metric | value |",
        "|---|---:|",
        *_metric_rows(card.metrics),
        "",
        *_segments(card.notes.get("report")),
        "## Parameters",
        "",
        "| parameter | value |",
        "|---|---|",
        *(f"| {k} | {_value(v)} |" for k, v in sorted(card.params.items())),
        "",
        "## Limits",
        "",
        card.limits,
        "",
        "## Libraries",
        "",
        ", ".join(f"{k} {v}" for k, v in card.libraries.items()),
        "",
    ]
    return "\n".join(lines)
