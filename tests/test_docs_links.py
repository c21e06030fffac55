"""Every Markdown link in README.md and the manual (docs/**/*.md) that points into the repository
resolves: the file exists, and a ``#section`` names a heading of that page as GitHub spells it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def markdown_files() -> list[Path]:
    docs = [path for path in (ROOT / "docs").rglob("*.md") if "_build" not in path.relative_to(ROOT).parts]
    return [ROOT / "README.md", *sorted(docs)]


def prose(text: str) -> str:
    """The text without fenced blocks and code spans (a link shown as code is not a link)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped (``-`` and ``_`` kept), spaces
    as hyphens."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {github_anchor(heading) for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8")))}


def local_links(text: str) -> list[str]:
    """The link targets in Markdown text that are not URLs (http:, https:, mailto:)."""
    return [
        target for target in LINK.findall(prose(text)) if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)
    ]


def test_the_check_reads_links_and_headings_as_github_does():
    sample = (
        "See [a](guide.md#the-fargate_batch_job-dag), `[not](a-link.md)`, [web](https://example.com),\n"
        '[b](../reference/links.rst "title").\n```sh\necho [no](link.md)\n```\n'
    )
    assert local_links(sample) == ["guide.md#the-fargate_batch_job-dag", "../reference/links.rst"]
    assert github_anchor("The `fargate_batch_job` DAG") == "the-fargate_batch_job-dag"
    assert github_anchor("docker-compose.yaml: Airflow for a team") == "docker-composeyaml-airflow-for-a-team"
    assert github_anchor("ECS's registration rules") == "ecss-registration-rules"


def test_there_are_pages_and_links_to_check():
    files = markdown_files()
    assert len(files) > 10, files
    assert sum(len(local_links(path.read_text(encoding="utf-8"))) for path in files) > 20


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_local_links_resolve(path):
    broken = []
    for target in local_links(path.read_text(encoding="utf-8")):
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif not resolved.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with the id {anchor!r} in {resolved.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)
