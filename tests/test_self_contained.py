"""A clone passes as it is: nothing the repository runs reads outside it.

Developers and CI have a ``../shared`` folder next to the project; a user's clone does not. A file a
test needs is vendored under tests/data (with its source and licence), never read from there.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

# A path into the folder next to the project, however it is spelled.
OUTSIDE = re.compile(
    r"""\.\.[/\\]+shared\b"""  # ../shared, ..\shared
    r"""|["']shared["']\)?\s*/"""  # "shared" / "schemas", Path("shared") / (pathlib)
    r"""|/\s*["']shared["']"""  # ROOT.parent / "shared"
    r"""|["']\.\.["']\s*,\s*["']shared["']"""  # os.path.join(ROOT, "..", "shared")
    r"""|["']shared["']\s*,\s*["'](?:schemas|hooks)\b"""  # os.path.join(PARENT, "shared", "schemas")
    r"""|/work/shared\b"""  # the absolute path on the development machines
)


def _is_docs(path: str) -> bool:
    """Prose may name the folder (to say it must not be read)."""
    return path.startswith("docs/") or path.endswith((".md", ".rst", ".txt"))


def _tracked_text_files() -> list[str]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (the check reads git ls-files)")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [path for path in listed.decode().split("\0") if path]


@pytest.mark.parametrize(
    "line",
    [
        'SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"',
        "schema = Path('shared') / 'schemas'",
        "\tcp ../shared/schemas/compose-spec.json tests/data/",
        r"open('..\\shared\\hooks\\before-stop')",
        'os.path.join(ROOT, "..", "shared")',
        'os.path.join(os.path.dirname(ROOT), "shared", "schemas")',
        "cat /work/shared/schemas/compose-spec.json",
    ],
)
def test_the_check_finds_a_read_outside_the_repository(line):
    assert OUTSIDE.search(line)


@pytest.mark.parametrize(
    "line",
    [
        'for name in ("old", "fresh", "shared"):',
        'FargateCreateClusterOperator(task_id="create", cluster_name="shared")',
        'assert tags["fargate-environment"] == "shared"',
        "the shared secrets and the login come from env",
        'SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"',
        "\"description\": \"The propagation mode for the bind mount: 'shared', 'slave', 'private'\"",
    ],
)
def test_the_check_leaves_other_uses_of_the_word_alone(line):
    assert not OUTSIDE.search(line)


def test_no_tracked_file_reads_outside_the_repository():
    files = _tracked_text_files()
    assert "tests/conftest.py" in files  # the listing is the repository's, not an empty one
    found = []
    for path in files:
        if path == THIS or _is_docs(path):
            continue
        try:
            text = (ROOT / path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary, or deleted in the work tree and not yet committed
        found += [
            f"{path}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert not found, "read outside the repository (vendor the file into tests/data):\n" + "\n".join(found)
