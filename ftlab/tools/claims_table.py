"""The claims table of README.md: one row per claim of the source text, its verdict at both scales and the
literature's figure, generated from the claims registry (`python -m ftlab claims --readme` rewrites it; a test
fails while README.md holds another table).

Every verdict in it is enforced elsewhere, so none is typed: at 3.4 M by the notebooks' CLAIM lines (nbval), at
135 M by tests/test_two_scales.py from the smol profile's stored references (`ftlab.course.verdicts`). A claim a
scale has not measured yet says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from ftlab.core.claims import CLAIMS
from ftlab.core.paths import REPO_ROOT
from ftlab.course.verdicts import SCALES, scale_label

README = REPO_ROOT / "README.md"

START, END = "<!-- claims-table:start -->", "<!-- claims-table:end -->"

NOT_YET = "not measured yet"


def verdict_cell(claim_id: str, profile: str) -> str:
    """The registry's verdict for a claim at a profile's scale, or that the scale has not measured it."""
    verdict = CLAIMS[claim_id].expected.get(profile)
    return f"**{verdict}**" if verdict else NOT_YET


def markdown() -> str:
    """The table, as README.md holds it between its markers."""
    head = ["claim", "nb", "the source text says", *(f"at {scale_label(p)} ({p})" for p in SCALES), "literature"]
    rows = [head, ["---"] * len(head)]
    for claim in CLAIMS.values():
        rows.append([f"`{claim.id}`", claim.notebook, claim.statement,
                     *(verdict_cell(claim.id, p) for p in SCALES), claim.literature or "–"])
    return "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)


def differing() -> list[str]:
    """Claims whose verdict differs between the scales (both measured): each is a finding the notebook's prose
    must name."""
    return [c.id for c in CLAIMS.values()
            if all(p in c.expected for p in SCALES) and len({c.expected[p] for p in SCALES}) > 1]


def readme_table(path: Path = README) -> str:
    """What README.md holds between the markers now."""
    match = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), path.read_text(), flags=re.DOTALL)
    if match is None:
        raise ValueError(f"{path.name} has no claims table: put {START} and {END} on lines of their own")
    return match.group(1).removesuffix("\n")


def write_readme(path: Path = README) -> bool:
    """Put today's table between the markers of README.md; True if it changed."""
    text, old = path.read_text(), readme_table(path)
    if old == markdown():
        return False
    old_block = f"{START}\n{old}\n{END}" if old else f"{START}\n{END}"
    path.write_text(text.replace(old_block, f"{START}\n{markdown()}\n{END}"))
    return True
