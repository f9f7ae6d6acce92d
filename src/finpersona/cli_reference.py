"""docs/cli.md, generated from the command line's own definitions (a test fails on drift).

Regenerate with ``python -m finpersona.cli_reference > docs/cli.md``.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from finpersona.cli import app


# Typer bundles its own click; its command objects are used by shape, not by type.
def _commands(group: Any, prefix: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        path = f"{prefix} {name}"
        if hasattr(cmd, "commands"):
            found.extend(_commands(cmd, path))
        else:
            found.append((path, cmd))
    return found


def _param_row(param: Any) -> str:
    if param.param_type_name == "argument":
        name = f"`{(param.metavar or param.name).upper()}`"
        text = getattr(param, "help", "") or ""
    else:
        name = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        text = param.help or ""
        shown = param.show_default is not False
        if not param.is_flag and param.default not in (None, "") and shown:
            text += f" (default: `{param.default}`)"
    return f"| {name} | {text.replace('|', '/')} |"


def render_cli_reference() -> str:
    root = typer.main.get_command(app)
    lines = ["# Command-line reference", "",
             "Generated from the code by `python -m finpersona.cli_reference`; do not edit.", "",
             "Every reporting command takes `--json`; errors print one line and exit 1.", ""]
    for path, cmd in _commands(root, "finpersona"):
        lines += [f"## `{path}`", "", (cmd.help or "").strip(), ""]
        params = [p for p in cmd.params if p.name != "help"]
        if params:
            lines += ["| argument / option | meaning |", "|---|---|"]
            lines += [_param_row(p) for p in params]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_cli_reference())
