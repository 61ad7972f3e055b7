"""Every file in tests/bad/ exits 2 with one line naming file, line, column, field and rule.

The first line of each file says what to expect:
`# expect: LINE:COL | text | text ...` (or `FILE:LINE:COL` for a file it refers to).
"""

from __future__ import annotations

from pathlib import Path

import pytest

BAD = Path(__file__).parent / "bad"
CASES = sorted(BAD.glob("*.yaml"))


def expectation(path: Path) -> tuple[str, list[str]]:
    first = path.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    spec = first.removeprefix("# expect:").strip()
    where, *texts = (part.strip() for part in spec.split(" | "))
    location = str(BAD / where) if ".csv" in where else f"{path}:{where}"
    return location, [t.replace("\\\\", "\\") for t in texts]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_file_exits_2_with_one_located_message(path: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    location, texts = expectation(path)
    out = tmp_path / "out"
    for command in (["run", path, "--out", out], ["validate", path]):
        result = cli(*command)
        message = result.stderr.strip()
        assert result.exit_code == 2, message
        assert "Traceback" not in result.output + message
        assert len(message.splitlines()) == 1, message
        assert message.startswith(f"error: {location}:") or message.startswith(f"error: {location} "), message
        for text in texts:
            assert text in message
    assert not out.exists(), "a bad input must write nothing"


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 20
