"""docs/operations.md against the code: every environment variable the code reads is in the configuration
reference, every variable the reference names is one the code reads (a secret's `NAME_FILE` form included), the
secrets it lists are the code's, and the runbook sections exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from authorium_shared.settings import FILE_SUFFIX, SECRET_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
# Where the code that runs in a deployment lives; tests (and their AUTHORIUM_TEST_* variables) are out of scope.
SOURCE_DIRS = ("shared", "services", "cli")

# A whole string literal that is a variable name: "AUTHORIUM_KEK", not a sentence mentioning it, and not the
# constant head of an f-string such as f"AUTHORIUM_CLIENT_DEMO_CLIENT_{name}".
VARIABLE = re.compile(r"AUTHORIUM_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL|REDIS_URL")
BACKTICKED = re.compile(r"`([A-Z][A-Z0-9_]*[A-Z0-9])`")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$", re.MULTILINE)

REQUIRED_SECTIONS = {
    "configuration reference": r"configuration reference",
    "key rotation": r"key rotation",
    "backup and restore": r"backup and restore",
    "Redis loss": r"redis",
    "TLS": r"\btls\b",
    "scaling": r"scaling",
    "health, metrics and logs": r"health",
}


def _f_string_parts(tree: ast.AST) -> set[int]:
    """ids of the constant pieces of f-strings, which are fragments rather than whole literals."""
    return {
        id(value)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for value in node.values
        if isinstance(value, ast.Constant)
    }


def variables_read_by_code() -> dict[str, set[str]]:
    """Variable name -> the files (relative to the repository) whose string literals name it."""
    found: dict[str, set[str]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            fragments = _f_string_parts(tree)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in fragments
                    and VARIABLE.fullmatch(node.value)
                ):
                    found.setdefault(node.value, set()).add(str(path.relative_to(ROOT)))
    return found


def read_by_code(name: str, code_variables: dict[str, set[str]]) -> bool:
    """Named in the code, or the `NAME_FILE` form of a secret, which the settings read for every secret variable
    without naming it."""
    secret_file = name.endswith(FILE_SUFFIX) and name.removesuffix(FILE_SUFFIX) in SECRET_VARIABLES
    return name in code_variables or secret_file


def headings(text: str) -> list[tuple[int, str, int, int]]:
    """(level, title, start of the heading line, end of the heading line) for each Markdown heading."""
    out = []
    in_fence = False
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (m := HEADING.match(line)):
            out.append((len(m.group(1)), m.group(2), offset, offset + len(line)))
        offset += len(line)
    return out


def section(text: str, pattern: str, level: int = 2) -> str:
    """The body of the first heading of `level` whose title matches `pattern`, up to the next heading of that
    level or above."""
    found = headings(text)
    for i, (lvl, title, _, end) in enumerate(found):
        if lvl == level and re.search(pattern, title, re.IGNORECASE):
            stop = next((start for lv, _, start, _ in found[i + 1 :] if lv <= level), len(text))
            return text[end:stop]
    raise AssertionError(f"docs/operations.md has no level-{level} heading matching {pattern!r}")


@pytest.fixture(scope="module")
def doc() -> str:
    assert DOC.is_file(), "docs/operations.md is missing"
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def code_variables() -> dict[str, set[str]]:
    return variables_read_by_code()


def test_the_scan_finds_the_code_variables(code_variables: dict[str, set[str]]) -> None:
    # Guards against a scan that finds nothing (moved folders, a broken pattern) and so passes vacuously.
    assert len(code_variables) >= 25, sorted(code_variables)
    for name in ("DATABASE_URL", "REDIS_URL", "AUTHORIUM_ISSUER", "AUTHORIUM_KEK", "AUTHORIUM_RESOURCE_URL"):
        assert name in code_variables, f"the scan no longer sees {name}"
    assert "shared/authorium_shared/settings.py" in code_variables["AUTHORIUM_ISSUER"]
    # Test-only variables live under tests/, which is not scanned.
    assert not [n for n in code_variables if n.startswith("AUTHORIUM_TEST_")]


def test_the_scan_takes_whole_literals_only() -> None:
    tree = ast.parse('x = f"AUTHORIUM_CLIENT_DEMO_CLIENT_{name}"\ny = "set AUTHORIUM_KEK first"\nz = "AUTHORIUM_HOST"')
    fragments = _f_string_parts(tree)
    names = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and id(n) not in fragments
        and VARIABLE.fullmatch(n.value)
    ]
    assert names == ["AUTHORIUM_HOST"]


def test_every_variable_the_code_reads_is_in_the_reference(doc: str, code_variables: dict[str, set[str]]) -> None:
    documented = set(BACKTICKED.findall(section(doc, REQUIRED_SECTIONS["configuration reference"])))
    missing = {name: sorted(files) for name, files in code_variables.items() if name not in documented}
    assert not missing, f"read by the code but not in the configuration reference (in backticks): {missing}"


def test_the_reference_names_no_variable_the_code_does_not_read(doc: str, code_variables: dict[str, set[str]]) -> None:
    documented = set(BACKTICKED.findall(section(doc, REQUIRED_SECTIONS["configuration reference"])))
    stale = sorted(n for n in documented if VARIABLE.fullmatch(n) and not read_by_code(n, code_variables))
    assert not stale, f"the configuration reference names variables no code reads (typo, or removed?): {stale}"


def test_the_file_forms_of_secrets_count_as_read_and_no_others() -> None:
    assert read_by_code("AUTHORIUM_KEK_FILE", {})
    assert read_by_code("AUTHORIUM_DEMO_PASSWORD_FILE", {})
    assert not read_by_code("AUTHORIUM_ISSUER_FILE", {}), "only secrets have a _FILE form"
    assert not read_by_code("AUTHORIUM_KEK", {})


def test_the_reference_lists_exactly_the_secrets_the_code_reads_from_files(doc: str) -> None:
    reference = section(doc, REQUIRED_SECTIONS["configuration reference"])
    paragraphs = [p for p in reference.split("\n\n") if p.startswith("Secrets (")]
    assert len(paragraphs) == 1, "the configuration reference has one paragraph listing the secrets"
    listed = set(BACKTICKED.findall(paragraphs[0]))
    assert listed == set(SECRET_VARIABLES), "the secrets listed and settings.SECRET_VARIABLES differ"
    assert "`_FILE`" in reference, "the configuration reference says how a secret is given as a file"


def test_the_doc_has_the_operator_sections(doc: str) -> None:
    titles = [title for level, title, _, _ in headings(doc) if level == 2]
    for what, pattern in REQUIRED_SECTIONS.items():
        matches = [t for t in titles if re.search(pattern, t, re.IGNORECASE)]
        assert matches, f"no '## ...' heading for {what} (pattern {pattern!r}); headings: {titles}"
        assert section(doc, pattern).strip(), f"the {what} section is empty"


def test_capacity_figures_point_to_the_benchmarks(doc: str) -> None:
    # Figures are measured by bench/, never written from guesses: the subsection points there.
    capacity = section(section(doc, REQUIRED_SECTIONS["scaling"]), r"measured capacity", level=3)
    assert "bench/results/" in capacity
