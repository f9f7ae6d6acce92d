"""Chart builders for the report: plain data in, a Plotly figure out.

They take lists and dicts rather than analysis results so each chart can be
drawn (and tested) from any source; the sections module does the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

FONT = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, Helvetica, Arial, sans-serif"
PALETTE = ("#1f5fa8", "#e07b39", "#3a9c6e", "#b8434b", "#7a5ba6", "#8c7d4f", "#3c8fa3",
           "#c7688e", "#6f7f91", "#a5a13a")


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01}, height=height,
                      font={"family": FONT, "size": 12}, margin={"l": 60, "r": 20, "t": 50,
                                                                 "b": 50},
                      colorway=list(PALETTE), plot_bgcolor="white",
                      legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(showgrid=False, linecolor="#999")
    fig.update_yaxes(gridcolor="#eee", linecolor="#999")
    return fig


def bars(title: str, labels: Sequence[str], values: Sequence[float], *,
         value_label: str = "", horizontal: bool = False,
         text: Sequence[str] | None = None) -> go.Figure:
    shown = text if text is not None else [f"{v:,.0f}" if isinstance(v, int) else f"{v:,.2f}"
                                           for v in values]
    if horizontal:
        bar = go.Bar(y=list(labels), x=list(values), orientation="h", text=list(shown),
                     textposition="auto", marker_color=PALETTE[0])
    else:
        bar = go.Bar(x=list(labels), y=list(values), text=list(shown), textposition="auto",
                     marker_color=PALETTE[0])
    fig = go.Figure(bar)
    if value_label:
        (fig.update_xaxes if horizontal else fig.update_yaxes)(title_text=value_label)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, height=max(320, 26 * len(labels) + 120) if horizontal else 380)


def grouped_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]],
                 *, value_label: str = "") -> go.Figure:
    fig = go.Figure([go.Bar(name=name, x=list(labels), y=list(values))
                     for name, values in series.items()])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=value_label)
    return _layout(fig, title)


def lines(title: str, x: Sequence[Any], series: Mapping[str, Sequence[float | None]], *,
          value_label: str = "", x_label: str = "", percent: bool = False,
          height: int = 400) -> go.Figure:
    fig = go.Figure([go.Scatter(name=name, x=list(x), y=list(values), mode="lines+markers")
                     for name, values in series.items()])
    fig.update_yaxes(title_text=value_label, tickformat=".0%" if percent else None)
    fig.update_xaxes(title_text=x_label)
    return _layout(fig, title, height)


def band(title: str, x: Sequence[Any], actual: Sequence[float | None],
         forecast_x: Sequence[Any], forecast: Sequence[float], lower: Sequence[float],
         upper: Sequence[float], anomalies: Sequence[tuple[Any, float]] = (), *,
         labels: tuple[str, str, str, str] = ("actual", "forecast", "interval", "anomaly"),
         value_label: str = "") -> go.Figure:
    """A history line, a forecast with its interval band, and anomaly markers."""
    fx = list(forecast_x)
    fig = go.Figure([
        go.Scatter(name=labels[0], x=list(x), y=list(actual), mode="lines",
                   line={"color": PALETTE[0]}),
        go.Scatter(name=labels[2], x=fx + fx[::-1], y=list(upper) + list(lower)[::-1],
                   fill="toself", fillcolor="rgba(224,123,57,0.18)", line={"width": 0},
                   hoverinfo="skip"),
        go.Scatter(name=labels[1], x=fx, y=list(forecast), mode="lines",
                   line={"color": PALETTE[1], "dash": "dash"}),
    ])
    if anomalies:
        fig.add_trace(go.Scatter(name=labels[3], x=[a[0] for a in anomalies],
                                 y=[a[1] for a in anomalies], mode="markers",
                                 marker={"color": PALETTE[3], "size": 9, "symbol": "x"}))
    fig.update_yaxes(title_text=value_label)
    return _layout(fig, title, 420)


def heatmap(title: str, z: Sequence[Sequence[float | None]], x: Sequence[Any],
            y: Sequence[Any], *, x_label: str = "", y_label: str = "",
            percent: bool = False, colorscale: str = "Blues", height: int = 420,
            annotate: bool = True) -> go.Figure:
    texts = [[("" if v is None else (f"{v:.0%}" if percent else f"{v:,.0f}")) for v in row]
             for row in z]
    fig = go.Figure(go.Heatmap(z=[list(r) for r in z], x=list(x), y=list(y),
                               colorscale=colorscale, hoverongaps=False,
                               text=texts if annotate else None,
                               texttemplate="%{text}" if annotate else None,
                               colorbar={"tickformat": ".0%" if percent else ",.0f"}))
    fig.update_xaxes(title_text=x_label, type="category")
    fig.update_yaxes(title_text=y_label, type="category", autorange="reversed")
    return _layout(fig, title, height)


def funnel(title: str, steps: Sequence[str], counts: Sequence[int],
           conversion: Sequence[float]) -> go.Figure:
    text = [f"{c:,} ({r:.1%})" for c, r in zip(counts, conversion, strict=True)]
    fig = go.Figure(go.Funnel(y=list(steps), x=list(counts), text=text, textinfo="text",
                              marker={"color": PALETTE[0]}))
    return _layout(fig, title, 60 * len(steps) + 160)


def sankey(title: str, nodes: Sequence[str], links: Sequence[tuple[int, int, float]]
           ) -> go.Figure:
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": list(nodes), "pad": 12, "thickness": 14, "color": PALETTE[0]},
        link={"source": [s for s, _, _ in links], "target": [t for _, t, _ in links],
              "value": [v for _, _, v in links], "color": "rgba(31,95,168,0.25)"}))
    return _layout(fig, title, 520)
