"""One self-contained HTML page: Plotly's script inlined once, no network needed.

Text is written in both languages; a switch at the top shows Chinese, English or
both (the choice is a class on <body>, so nothing is re-rendered). Chart titles
carry both languages, since a chart cannot switch its own text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import plotly.offline

_CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",Helvetica,Arial,sans-serif;
margin:0;color:#222;background:#f6f7f9}
header{background:#1f5fa8;color:#fff;padding:18px 32px}
header h1{margin:0 0 6px;font-size:22px}
header .meta{font-size:13px;opacity:.9}
nav{padding:8px 32px;background:#fff;border-bottom:1px solid #ddd;font-size:13px}
nav a{margin-right:14px;color:#1f5fa8;text-decoration:none}
main{padding:8px 32px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:18px 0;
padding:14px 20px}
section h2{font-size:18px;margin:4px 0 8px}
p.intro{color:#555;font-size:13px;margin:0 0 8px}
p.missing{color:#b8434b;font-size:13px}
table.kpi{border-collapse:collapse;margin:8px 0 12px;font-size:13px}
table.kpi td,table.kpi th{border:1px solid #ddd;padding:4px 10px;text-align:right}
table.kpi th{background:#f0f3f7;text-align:left}
.lang-switch button{margin-left:6px;font-size:12px}
body.only-zh .en,body.only-en .zh{display:none}
footer{font-size:12px;color:#777;padding:0 32px 30px}
"""
_SWITCH = """<span class="lang-switch">
<button onclick="document.body.className='only-zh'">中文</button>
<button onclick="document.body.className='only-en'">English</button>
<button onclick="document.body.className=''">中文 + English</button></span>"""


@dataclass
class Table:
    """A small table of figures shown under a section's charts."""

    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Section:
    key: str
    title_zh: str
    title_en: str
    intro_zh: str = ""
    intro_en: str = ""
    figures: list[go.Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    missing: str | None = None  # why the section could not be drawn

    @property
    def title(self) -> str:
        return f"{self.title_zh} · {self.title_en}"


def bilingual(zh: str, en: str) -> str:
    return f'<span class="zh">{html.escape(zh)}</span> <span class="en">{html.escape(en)}</span>'


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return html.escape("" if value is None else str(value))


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
                   for row in table.rows)
    return f'<table class="kpi"><tr>{head}</tr>{body}</table>'


def _section(section: Section) -> str:
    parts = [f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>']
    if section.intro_zh or section.intro_en:
        parts.append(f'<p class="intro">{bilingual(section.intro_zh, section.intro_en)}</p>')
    if section.missing is not None:
        parts.append('<p class="missing">' + bilingual("无法生成：", "Not available: ")
                     + html.escape(section.missing) + "</p>")
    for n, fig in enumerate(section.figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False,
                                 div_id=f"{section.key}-{n}", config={"displaylogo": False}))
    parts.extend(_table(t) for t in section.tables)
    parts.append("</section>")
    return "\n".join(parts)


def render_page(title_zh: str, title_en: str, meta: str, sections: list[Section],
                footer: str) -> str:
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title_zh)} '
                  f'<span class="en">{html.escape(s.title_en)}</span></a>' for s in sections)
    body = "\n".join(_section(s) for s in sections)
    script = plotly.offline.get_plotlyjs()
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{html.escape(title_zh)} · {html.escape(title_en)}</title>"
            f"<style>{_CSS}</style><script>{script}</script></head><body>"
            f"<header><h1>{html.escape(title_zh)} · {html.escape(title_en)}</h1>"
            f'<div class="meta">{html.escape(meta)} {_SWITCH}</div></header>'
            f"<nav>{nav}</nav><main>{body}</main>"
            f"<footer>{html.escape(footer)}</footer></body></html>\n")
