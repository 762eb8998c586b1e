"""No number typed by hand into the course's prose: every digit in a notebook's markdown running text is in a
heading, an equation, a code span, a link target, or on the allow-list beside this test (each entry with its
reason). Numbers that come from results are rendered by code cells (dpt.experiments.claims) or asserted."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = Path(__file__).with_name("notebook_numbers_allowed.txt")


def allow_list() -> list[tuple[re.Pattern, str]]:
    """Entries 'regex  # reason' (one per line); a line without a reason is itself an error."""
    out = []
    for n, line in enumerate(ALLOWED.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        pattern, sep, reason = line.partition("  # ")
        assert sep and reason.strip(), f"{ALLOWED.name} line {n} has no reason: {line!r}"
        out.append((re.compile(pattern.strip()), reason.strip()))
    return out


def running_text(markdown: str) -> str:
    """The prose of a markdown cell: without headings, code blocks and spans, equations, link targets, images and
    HTML tags."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", " ", text)
    text = re.sub(r"`[^`\n]+`", " ", text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    text = re.sub(r"\]\([^)]*\)", "] ", text)
    text = re.sub(r"<[^>\n]+>", " ", text)
    return "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))


def typed_numbers(markdown: str, allowed) -> list[str]:
    """The digits in running text that no allow-list entry covers, each with a little context."""
    text = running_text(markdown)
    for pattern, _ in allowed:
        text = pattern.sub(" ", text)
    return [text[max(0, m.start() - 30):m.end() + 30].replace("\n", " ") for m in re.finditer(r"\d+", text)]


def notebooks():
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_no_number_is_typed_into_a_notebooks_prose(path):
    allowed = allow_list()
    cells = json.loads(path.read_text())["cells"]
    bad = [(i, hit) for i, c in enumerate(cells) if c["cell_type"] == "markdown"
           for hit in typed_numbers("".join(c["source"]), allowed)]
    assert not bad, "\n".join(f"{path.name} cell {i}: ...{hit}..." for i, hit in bad)


def test_the_check_finds_a_planted_number():
    """It can fail: a hand-typed result in prose is found; the same number in a code span, an equation or a heading
    is not."""
    allowed = allow_list()
    assert typed_numbers("dpt reaches an HM of 77.5 on average.", allowed)
    assert typed_numbers("CoOp gains 12 base points.", allowed)
    assert not typed_numbers("The loss is $L = CE + 30 \\cdot I$ and `mi_weight=30`.", allowed)
    assert not typed_numbers("## Part 3: results", allowed)


def test_every_allow_list_entry_has_a_reason_and_is_used():
    entries = allow_list()
    text = "\n".join(running_text("".join(c["source"])) for p in notebooks()
                     for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "markdown")
    unused = [p.pattern for p, _ in entries if not p.search(text)]
    assert not unused, f"allow-list entries no notebook needs: {unused}"
