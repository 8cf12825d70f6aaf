"""The README and docs/ as a user reads them: every relative link points at a file of the
repository, the Layout names every module, and no internal milestone labels."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(page: Path):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # links in code are code
    for target in LINK.findall(text):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            yield target.split("#")[0]


def test_the_pages_exist_and_link_somewhere():
    assert (ROOT / "docs").is_dir() and len(PAGES) > 5
    assert sum(1 for page in PAGES for _ in relative_links(page)) > 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_points_at_a_file_in_the_repository(page):
    broken = []
    for target in relative_links(page):
        path = (page.parent / target).resolve()
        if not path.exists() or ROOT not in path.parents:
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to what the repository does not hold: {broken}"


def layout_block() -> str:
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1]
    return section.split("```", 2)[1]


def test_the_layout_names_every_module_package_and_script():
    layout = layout_block()
    package = ROOT / "tf_varattn"
    missing = [str(path.relative_to(ROOT)) for path in package.rglob("*.py")
               if path.name != "__init__.py" and not re.search(rf"\b{re.escape(path.name)}\b", layout)]
    missing += [str(path.relative_to(ROOT)) + "/" for path in package.iterdir()
                if (path / "__init__.py").is_file() and f"{path.name}/" not in layout]
    missing += [str(path.relative_to(ROOT)) for path in (ROOT / "experiments").glob("*.py")
                if not re.search(rf"\b{path.stem}\b", layout)]
    assert not missing, f"docs/development.md's Layout does not name: {missing}"


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_no_internal_milestone_labels(page):
    labels = re.findall(r"\b(?:[Ss]ession \d+|[Ii]ssue #\d+|sessions \d+-\d+)", page.read_text(encoding="utf-8"))
    assert not labels, f"{page.relative_to(ROOT)} names internal work periods: {labels}"
