"""The README and docs/ match the repository and the code: every relative link (and its anchor) resolves, every
document path they name exists in a clone, docs/cli.md lists exactly the commands and error codes there are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailseal.cli.common import NOT_VALID_CODES
from mailseal.cli.main import COMMANDS
from mailseal.errors import ErrorCode

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
MENTIONED_DOC = re.compile(r"`((?:\.\./)*[\w./-]+\.md)(?:#[\w-]+)?`")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _prose(text: str) -> str:
    """The text outside fenced code blocks (a link inside a code block is an example, not a link)."""
    return FENCE.sub("", text)


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation other than - and _ removed, spaces become hyphens."""
    out = set()
    for line in _prose(path.read_text(encoding="utf-8")).splitlines():
        if m := re.match(r"#{1,6}\s+(.*?)\s*$", line):
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return out


def _relative_links(doc: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(doc.read_text(encoding="utf-8")))
            if not re.match(r"[a-z][a-z0-9+.-]*:", t)]  # http:, https:, mailto: are not relative


def test_the_documents_have_links() -> None:
    assert sum(len(_relative_links(d)) for d in DOCUMENTS) >= 10


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves(doc: Path) -> None:
    broken = []
    for target in _relative_links(doc):
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists() or (REPO not in path.parents and path != REPO):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(REPO)}")
    assert not broken, f"{doc.relative_to(REPO)}: " + "; ".join(broken)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_document_named_exists_in_the_clone(doc: Path) -> None:
    """A path such as `docs/store.md` or `../shared/ARCHITECTURE.md` in prose must be a file of the repository
    (relative to the root, as the docs write them, or to the document's folder)."""
    missing = []
    for name in MENTIONED_DOC.findall(_prose(doc.read_text(encoding="utf-8"))):
        candidates = [(REPO / name).resolve(), (doc.parent / name).resolve()]
        if not any(c.is_file() and REPO in c.parents for c in candidates):
            missing.append(name)
    assert not missing, f"{doc.relative_to(REPO)} names documents that are not in the repository: {missing}"


def _cli_md() -> str:
    return (REPO / "docs" / "cli.md").read_text(encoding="utf-8")


def _error_table() -> dict[str, int]:
    section = _cli_md().split("## Exit codes and error codes", 1)[1].split("\n## ", 1)[0]
    return {code: int(exit_code) for code, exit_code in re.findall(r"^\| `([a-z-]+)` \| (\d) \|", section, re.M)}


def test_documented_error_codes_are_the_codes_of_the_code() -> None:
    documented = _error_table()
    # `internal` is the CLI's own code for a bug (cli/common.py handle_errors), not an ErrorCode.
    assert set(documented) == {c.value for c in ErrorCode} | {"internal"}
    for code, exit_code in documented.items():
        assert exit_code == (1 if code in NOT_VALID_CODES else 2), f"{code}: docs/cli.md says exit {exit_code}"


def test_the_command_table_lists_every_command() -> None:
    section = _cli_md().split("## Commands", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z-]+)[ `\\]", section, re.M))
    assert documented == set(COMMANDS)


def test_readme_names_only_commands_that_exist() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`mailseal (?:--[^\s`]+ )*([a-z][a-z-]*)", readme)) | set(
        re.findall(r"^\$ mailseal ([a-z][a-z-]*)", readme, re.M))
    assert named and named <= set(COMMANDS), named - set(COMMANDS)
