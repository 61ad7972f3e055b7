"""`flowsim validate` lists every mistake of a file, located and in file order; `run` still reports one.

Also the loose ends around it: singular/plural in validate's ok line, clean metavars in
help, and the step engine's `Midnight` event (public SimPy API, URGENT semantics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import simpy
from typer.testing import CliRunner

from flowsim.cli.main import app
from flowsim.model.errors import InputError
from flowsim.model.scenario import load_scenario, scenario_errors


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors(result: Any) -> list[str]:
    return [line.rstrip() for line in result.stderr.strip().splitlines()]


def at(text: str, line: int, token: str) -> str:
    """`LINE:COL` of `token` on line `line` (1-based) of `text`."""
    return f"{line}:{text.splitlines()[line - 1].index(token) + 1}"


def run_line(cli: Any, path: Path, tmp_path: Path) -> str:
    """What `run` prints for a bad file: exactly one error line, and nothing written."""
    result = cli("run", path, "--out", tmp_path / "out", "--workers", "1")
    assert result.exit_code == 2, result.output
    lines = errors(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert not (tmp_path / "out").exists()
    return lines[0]


# Three schema mistakes, placed so that file order differs from the schema's field order
# (flows before regions, replicates last).
THREE_SCHEMA = """\
name: three
start: 2015-01-01
end: 2015-12-31
flows:
  - {name: r, kind: recruitment, to: a, rate: -3}
regions:
  a: {initial: lots}
replicates: 0
"""


def test_three_independent_mistakes_give_three_located_lines_in_file_order(
        cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, THREE_SCHEMA)
    result = cli("validate", path)
    assert result.exit_code == 2
    assert "ok: " not in result.stdout
    assert errors(result) == [
        f"error: {path}:{at(THREE_SCHEMA, 5, '-3')}: flows.r.rate: value -3: must be >= 0",
        f"error: {path}:{at(THREE_SCHEMA, 7, 'lots')}: regions.a.initial: value 'lots': must be a number, "
        "not text (units and words do not belong here)",
        f"error: {path}:{at(THREE_SCHEMA, 8, '0')}: replicates: value 0: must be >= 1",
    ]
    assert run_line(cli, path, tmp_path) == errors(result)[0]


# Three cross-field mistakes in a schema-valid file: observations, events and flows in
# reverse order of the checks, so file order and check order differ.
THREE_CROSS = """\
name: cross
start: 2015-01-01
end: 2015-12-31
observations:
  - {date: 2015-06-01, region: nowhere, value: 10}
events:
  - {date: 2017-01-01, scale: {flows.r.rate: 2}}
regions:
  a: {initial: 10}
flows:
  - {name: r, kind: recruitment, to: b, rate: 3}
"""


def test_cross_field_mistakes_are_all_listed_and_run_reports_the_first_checked(
        cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, THREE_CROSS)
    result = cli("validate", path)
    assert result.exit_code == 2
    lines = errors(result)
    assert [line.split(": ")[1] for line in lines] == [
        f"{path}:{at(THREE_CROSS, 5, 'nowhere')}", f"{path}:{at(THREE_CROSS, 7, '2017')}",
        f"{path}:{at(THREE_CROSS, 11, 'b,')}"]
    assert "observations[0].region: value 'nowhere': unknown region; regions are a" in lines[0]
    assert "events[0].date" in lines[1] and "must be within the run, 2015-01-01 to 2015-12-31" in lines[1]
    assert "flows.r.to: value 'b': unknown region; regions are a" in lines[2]
    # run (and every other command) still stops at the first rule checked: the flows come first
    assert run_line(cli, path, tmp_path) == lines[2]


def test_thirty_mistakes_give_twenty_lines_and_a_count(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    regions = "".join(f"  r{i}: {{initial: -{i + 1}}}\n" for i in range(30))
    path = write(tmp_path, f"name: many\nstart: 2015-01-01\nend: 2015-12-31\nregions:\n{regions}")
    result = cli("validate", path)
    assert result.exit_code == 2
    lines = errors(result)
    assert len(lines) == 21
    for i, line in enumerate(lines[:20]):
        col = regions.splitlines()[i].index("-") + 1
        assert line == f"error: {path}:{5 + i}:{col}: regions.r{i}.initial: value -{i + 1}: must be >= 0"
    assert lines[20] == f"error: {path}: ... and 10 more errors"
    assert run_line(cli, path, tmp_path) == lines[0]


def test_one_more_error_is_singular(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    regions = "".join(f"  r{i}: {{initial: -1}}\n" for i in range(21))
    path = write(tmp_path, f"name: many\nstart: 2015-01-01\nend: 2015-12-31\nregions:\n{regions}")
    lines = errors(cli("validate", path))
    assert lines[-1] == f"error: {path}: ... and 1 more error"


def test_each_file_lists_its_own_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = write(tmp_path, THREE_SCHEMA, "bad.yaml")
    good = write(tmp_path, "name: good\nstart: 2015-01-01\nend: 2015-12-31\nregions: {a: {initial: 1}}\n",
                 "good.yaml")
    cross = write(tmp_path, THREE_CROSS, "cross.yaml")
    result = cli("validate", bad, good, cross)
    assert result.exit_code == 2
    lines = errors(result)
    assert [line.split(":")[1].strip() for line in lines] == [str(bad)] * 3 + [str(cross)] * 3
    assert result.stdout.startswith(f"ok: {good}: good, 1 region, 0 flows, 0 events, 0 observations, ")


def test_cross_field_rules_wait_for_a_schema_valid_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An unknown region (cross-field) is not reported while the schema fails; it is once that is fixed."""
    text = THREE_CROSS.replace("  a: {initial: 10}", "  a: {initial: -10}")
    path = write(tmp_path, text)
    assert errors(cli("validate", path)) == [
        f"error: {path}:{at(text, 9, '-10')}: regions.a.initial: value -10: must be >= 0"]
    write(tmp_path, THREE_CROSS)
    assert len(errors(cli("validate", path))) == 3


def test_a_misspelt_key_is_one_mistake_not_two(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = ("name: k\nstart: 2015-01-01\nend: 2015-12-31\nregions: {a: {initial: 1}}\nflows:\n"
            "  - {name: r, kind: recruitment, to: a, rat: 3}\n"
            "  - {name: d, kind: attrition, region: a, zz: 3}\n")
    path = write(tmp_path, text)
    lines = errors(cli("validate", path))
    # `rat` stands for the missing `rate`; `zz` does not, so the second flow's `rate` is reported missing too
    assert lines == [
        f"error: {path}:{at(text, 6, 'rat')}: flows.r.rat: unknown key 'rat'; did you mean 'rate'?",
        f"error: {path}:{at(text, 7, '{')}: flows.d.rate: is required",
        f"error: {path}:{at(text, 7, 'zz')}: flows.d.zz: unknown key 'zz'",
    ]


def test_the_alternatives_of_one_value_are_one_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`bias` is a number or a name: a bad value fails both, and is still one line."""
    text = ("name: b\nstart: 2015-01-01\nend: 2015-12-31\nregions: {a: {initial: 1}}\nobservations:\n"
            "  - {date: 2015-02-01, region: a, value: 5, bias: -2}\n"
            "  - {date: 2015-03-01, region: a, value: 5, sigma: 0}\n")
    path = write(tmp_path, text)
    lines = errors(cli("validate", path))
    assert len(lines) == 2, lines
    assert lines[0] == f"error: {path}:{at(text, 6, '-2')}: observations[0].bias: value -2: must be > 0.0"
    assert lines[1].startswith(f"error: {path}:{at(text, 7, '0}')}: observations[1].sigma: value 0: ")


def test_every_broken_override_is_listed(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "name: o\nstart: 2015-01-01\nend: 2015-12-31\nregions: {a: {initial: 1}}\n")
    lines = errors(cli("validate", path, "--set", "regions.x.initial=3", "--set", "nonsense"))
    assert len(lines) == 2
    assert lines[0].startswith("error: --set regions.x.initial=3: regions.x.initial: unknown parameter path")
    assert lines[1].startswith("error: --set nonsense: must be written PATH=VALUE")


def test_library_keeps_raising_the_first_error(tmp_path: Path) -> None:
    path = write(tmp_path, THREE_SCHEMA)
    listed = scenario_errors(path)
    assert [e.origin.line for e in listed] == [5, 7, 8]
    try:
        load_scenario(path)
    except InputError as exc:
        assert exc.message == listed[0].message
    else:
        raise AssertionError("load_scenario accepted a bad file")
    assert scenario_errors(tmp_path / "missing.yaml")[0].rule == "scenario file does not exist"
    good = write(tmp_path, "name: g\nstart: 2015-01-01\nend: 2015-12-31\nregions: {a: {initial: 1}}\n", "g.yaml")
    assert scenario_errors(good) == []


def test_ok_line_counts_in_the_singular_and_plural(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    one = write(tmp_path, (
        "name: one\nstart: 2015-01-01\nend: 2015-12-31\nregions: {a: {initial: 1}}\n"
        "flows: [{name: r, kind: recruitment, to: a, rate: 1}]\n"
        "events: [{date: 2015-02-01, scale: {flows.r.rate: 2}}]\n"
        "observations: [{date: 2015-03-01, region: a, value: 3}]\n"), "one.yaml")
    two = write(tmp_path, (
        "name: two\nstart: 2015-01-01\nend: 2015-12-31\nregions: {a: {initial: 1}, b: {initial: 1}}\n"
        "flows: [{name: r, kind: recruitment, to: a, rate: 1}, {name: d, kind: attrition, region: a, rate: 0.1}]\n"
        "events: [{date: 2015-02-01, scale: {flows.r.rate: 2}}, {date: 2015-03-01, scale: {flows.r.rate: 2}}]\n"
        "observations: [{date: 2015-03-01, region: a, value: 3}, {date: 2015-04-01, region: a, value: 3}]\n"),
        "two.yaml")
    result = cli("validate", one, two)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"ok: {one}: one, 1 region, 1 flow, 1 event, 1 observation, 2015-01-01 to 2015-12-31",
        f"ok: {two}: two, 2 regions, 2 flows, 2 events, 2 observations, 2015-01-01 to 2015-12-31",
    ]


def test_help_shows_clean_metavars() -> None:
    runner = CliRunner()
    shown = {}
    for command in ("run", "sweep", "calibrate", "validate"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
        assert result.exit_code == 0, result.output
        shown[command] = {word.rstrip(","): line for line in result.stdout.splitlines()
                          for word in line.split()[:2] if line.lstrip().startswith("-") and word.startswith("--")}
    usage = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).stdout
    assert "FILE..." in usage and "{FILE}" not in usage  # click's usage style, not typer's braces
    assert "<list[Path]>" not in usage and "  FILE  " in usage, usage  # arguments without Python types
    expect = {"--set": "PATH=VALUE", "--replicates": " N ", "--seed": " N ", "--out": "DIR", "--workers": " N ",
              "--engine": "step|event|meanfield", "--observations": "FILE", "--tolerance": "SHARE",
              "--scheduler": "ADDRESS"}
    for command, options in shown.items():
        needed = {"--set"} if command == "validate" else {"--set", "--seed", "--out", "--workers"}
        assert needed <= set(options), (command, sorted(options))
        for option, metavar in expect.items():
            if option in options and not (command == "calibrate" and option == "--replicates"):
                assert metavar in options[option], (command, options[option])
        for flag in ("--plot", "--resume"):
            if flag in options:
                assert "<bool>" not in options[flag], (command, options[flag])


def test_midnight_fires_before_the_day_is_stepped() -> None:
    """A Midnight made after the clock's NORMAL tick for the same time still goes first, in creation order."""
    from flowsim.engines.step import Midnight

    env = simpy.Environment()
    log: list[tuple[str, float]] = []

    def clock() -> Any:
        for _ in range(3):
            log.append(("step", env.now))
            env.process(land("first"))
            env.process(land("second"))
            yield env.timeout(1)

    def land(label: str) -> Any:
        event = Midnight(env, 1)
        assert event.triggered and event.ok and event.value is None
        yield event
        log.append((label, env.now))

    env.run(until=env.process(clock()))
    assert log == [("step", 0), ("first", 1), ("second", 1), ("step", 1), ("first", 2), ("second", 2),
                   ("step", 2), ("first", 3), ("second", 3)]
