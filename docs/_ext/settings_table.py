"""Sphinx extension: the settings table in the manual, generated from ``fargate_provider.settings``.

A page that holds the markers ``<!-- settings-table -->`` and ``<!-- /settings-table -->`` gets,
between them, the Markdown table ``settings_table_markdown()`` returns (the page in the repository
holds the same table for readers on GitHub; tests/test_settings.py checks it is the same): every Airflow
Variable and ``[fargate]`` option with its type, default and meaning, read from the one module that
lists them, so the manual cannot drift from the code. Such a page is read again on every build
(cheap), so a changed, added or missing module always shows, incremental builds included.
"""

from __future__ import annotations

import importlib
from collections.abc import Set
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

MARKER = "<!-- settings-table -->"
END_MARKER = "<!-- /settings-table -->"
MODULE = "fargate_provider.settings"

ATTRIBUTE = "fargate_settings_table_docs"  # the pages that hold the marker, kept in the environment

logger = logging.getLogger(__name__)


def _pages(env: BuildEnvironment) -> set[str]:
    if not hasattr(env, ATTRIBUTE):
        setattr(env, ATTRIBUTE, set())
    return getattr(env, ATTRIBUTE)


def settings_markdown() -> str:
    """The table, from the module's ``settings_table_markdown()``."""
    module = importlib.import_module(MODULE)
    return module.settings_table_markdown().strip() + "\n"


def replace_marker(app: Sphinx, docname: str, source: list[str]) -> None:
    """On ``source-read``: put the table where the marker is."""
    if MARKER not in source[0]:
        return
    _pages(app.env).add(docname)
    try:
        table = settings_markdown()
    except Exception as err:  # the build must say why the table is missing, not show a page without it
        logger.warning("settings table: cannot read %s: %s: %s", MODULE, type(err).__name__, err, location=docname)
        return
    start = source[0].index(MARKER) + len(MARKER)
    end = source[0].find(END_MARKER, start)
    source[0] = source[0][:start] + "\n\n" + table + "\n" + (source[0][end:] if end >= 0 else "")


def always_outdated(
    app: Sphinx, env: BuildEnvironment, added: Set[str], changed: Set[str], removed: Set[str]
) -> list[str]:
    """On ``env-get-outdated``: the pages with the table, read again whatever changed."""
    return sorted(_pages(env) - set(removed))


def purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _pages(env).discard(docname)


def merge(app: Sphinx, env: BuildEnvironment, docnames: Set[str], other: BuildEnvironment) -> None:
    _pages(env).update(_pages(other) & set(docnames))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", replace_marker)
    app.connect("env-get-outdated", always_outdated)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
