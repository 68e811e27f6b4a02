"""The fusion tables in the README and docs/fusions.md are exactly what `python -m fusion.summary` prints."""

from __future__ import annotations

import pytest

from fusion.summary import main
from tests.conftest import REPO

HEADER = "| name | class | family | reference | parameters | question_to_image |"


def table_lines(text: str) -> list[str]:
    """The lines of the one fusion table in `text`: from its header to the first line that is not a table row."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line == HEADER]
    assert len(starts) == 1, f"expected one fusion table, found {len(starts)}"
    table = []
    for line in lines[starts[0] :]:
        if not line.startswith("|"):
            break
        table.append(line)
    return table


@pytest.mark.parametrize("document", ["README.md", "docs/fusions.md"])
def test_fusion_table_equals_the_summary_output(document, capsys):
    main([])  # the defaults are the documents' standard size: img 512, txt 512, out 512
    printed = capsys.readouterr().out
    assert "img_dim=512, txt_dim=512, out_dim=512" in printed
    assert table_lines((REPO / document).read_text()) == table_lines(printed)
