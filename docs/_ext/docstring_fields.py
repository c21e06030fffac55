"""Sphinx extension: the provider's docstrings as Sphinx reads them.

``:param a, b, c: text`` documents each of a, b and c.

The provider's docstrings group parameters that share a description (``:param aws_conn_id,
region_name, verify, botocore_config: see FargateBaseOperator``). Sphinx's field lists take one name
a field (it would read ``aws_conn_id,`` as a type), so the group is split into one field a name,
each with the description, before autodoc hands the docstring on.
"""

from __future__ import annotations

import re
from typing import Any

from sphinx.application import Sphinx

GROUP = re.compile(r"^(?P<indent>\s*):param (?P<names>\w+(?:\s*,\s*\w+)+):(?P<text>.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def split_groups(lines: list[str]) -> list[str]:
    """The docstring's lines with every grouped ``:param`` field split into one field a name."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = GROUP.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = len(match["indent"])
        body = [match["text"]]
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            if not lines[i].strip() and (i + 1 >= len(lines) or _indent(lines[i + 1]) <= indent):
                break
            body.append(lines[i])
            i += 1
        for name in (part.strip() for part in match["names"].split(",")):
            out.append(f"{match['indent']}:param {name}:{body[0]}")
            out.extend(body[1:])
    return out


def process_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    lines[:] = split_groups(lines)


def drop_class_return_type(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None, return_annotation: str | None
) -> None:
    """A class's ``:return:`` tells what its operator's ``execute`` returns: not ``__init__``'s None.

    Runs after autodoc recorded the signature's type hints (``autodoc_typehints = "description"``),
    and forgets the return type it recorded for a class.
    """
    if what == "class":
        app.env.temp_data.get("annotations", {}).get(name, {}).pop("return", None)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("autodoc-process-signature", drop_class_return_type, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
