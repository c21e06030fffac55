"""Sphinx configuration: the provider's manual (guides in Markdown, reference from the docstrings).

``make docs`` builds it, warnings as errors: ``sphinx-build -W --keep-going -q -b html docs docs/_build/html``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Autodoc imports Airflow: give it a throwaway home, so the build never reads or writes ~/airflow
# (nor a developer's own configuration), and no example DAGs.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="fargate-docs-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"

# The package is installed editable; the paths make a plain checkout work too.
sys.path[:0] = [str(ROOT / "provider"), str(DOCS / "_ext")]

project = "airflow-provider-fargate"
author = "airflow-provider-fargate contributors"
copyright = "the airflow-provider-fargate contributors; Apache-2.0"
release = "0.1.0"

add_module_names = False  # signatures name the class, not its whole module path
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_parser",
    "settings_table",
    "docstring_fields",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Markdown: headings up to ### get anchors, so guides link to each other's sections (page.md#section),
# as GitHub renders them.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
# Text such as NAME.<domain> is text, not an HTML tag the browser would swallow.
myst_disable_syntax = ["html_inline"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {"show-inheritance": True}
autodoc_inherit_docstrings = False  # an undocumented execute() is not shown with BaseOperator's words
nitpicky = False
highlight_language = "none"  # a code block without a language is shown as it is

html_theme = "alabaster"
html_title = "airflow-provider-fargate"
html_static_path: list[str] = []
