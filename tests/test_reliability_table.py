"""docs/reliability.md is exactly the table the reliability markers give."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability_table import DOCUMENT, collect, render


def test_document_matches_the_markers() -> None:
    expected = render(collect())
    assert DOCUMENT.read_text(encoding="utf-8") == expected, (
        "docs/reliability.md drifted from the tests' reliability markers: run "
        "`.venv/bin/python tests/reliability_table.py --write`"
    )


def test_every_row_names_a_test_that_exists() -> None:
    rows = collect()
    assert rows, "no reliability markers found"
    for row in rows:
        path, name = row.test.split("::")
        assert f"def {name}(" in (DOCUMENT.parents[1] / path).read_text(encoding="utf-8")


def test_markers_are_read_from_decorators_with_their_text(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\n"
        '@pytest.mark.reliability(case="a  | b", outcome="named\\n  error")\n'
        "def test_one():\n    pass\n\n"
        "@pytest.mark.slow\ndef test_two():\n    pass\n",
        encoding="utf-8",
    )
    rows = collect(tmp_path)
    assert [(r.case, r.outcome) for r in rows] == [("a | b", "named error")]
    assert "a \\| b" in render(rows)


def test_a_marker_without_its_text_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        'import pytest\n\n@pytest.mark.reliability(case="x")\ndef test_one():\n    pass\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="outcome"):
        collect(tmp_path)
