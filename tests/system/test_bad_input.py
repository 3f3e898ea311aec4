"""Bad input to every command: one clear line per problem, exit status 2, nothing written.

Each mistake a strategist can make in a scenario file (and a researcher in an experiment
file) is given to ``relsim run``, ``validate``, ``dashboard`` and ``sweep``. Every command
must print one ``error:`` line per problem naming the file, the field path, the bad value and
what is allowed, exit with status 2, raise no traceback and leave the folder as it was.
Most cases run the command line in this process (fast); a few run the installed script.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from simulation.cli import main

RELSIM = Path(sys.executable).with_name("relsim")


@dataclass
class Mistake:
    """A broken input file and what its error lines must say."""

    files: dict[str, str | bytes]  # file name -> content (the first is the one given)
    expect: list[list[str]]  # per expected line, the fragments it must contain
    given: str = ""  # the file to pass, when it is not the first of ``files``
    names_file: bool = True  # the line names the file (a loop names both)

    @property
    def target(self) -> str:
        return self.given or next(iter(self.files))


SCENARIO_MISTAKES = {
    "missing_file": Mistake({}, [["no such file"]], given="missing.yaml"),
    "not_yaml": Mistake({"bad.yaml": "market: [1, 2\n"}, [["not valid YAML", "line 2"]]),
    "not_a_mapping": Mistake({"bad.yaml": "- a\n- b\n"}, [["holds a list", "mapping"]]),
    "not_text": Mistake({"bad.yaml": b"\xff\xfe\x00\x81"}, [["cannot be read"]]),
    "unknown_key": Mistake(
        {"bad.yaml": "market:\n  customerz: 5\n"},
        [["market.customerz", "unknown key", "allowed keys", "customers"]],
    ),
    "wrong_type": Mistake(
        {"bad.yaml": "market:\n  customers: lots\n"},
        [["market.customers", "'lots'", "is not allowed", "valid integer"]],
    ),
    "yes_for_a_number": Mistake(
        {"bad.yaml": "market:\n  customers: yes\n"},
        [["market.customers", "True", "is not allowed", "number"]],
    ),
    "out_of_range": Mistake(
        {"bad.yaml": "market:\n  network: {mean_degree: 500}\n"},
        [["market.network.mean_degree", "500", "less than or equal to 200"]],
    ),
    "probability_above_1": Mistake(
        {"bad.yaml": "market:\n  behaviour: {switch_share: 1.5}\n"},
        [["market.behaviour.switch_share", "1.5", "less than or equal to 1"]],
    ),
    "negative_customers": Mistake(
        {"bad.yaml": "market:\n  customers: -3\n"},
        [["market.customers", "-3", "greater than or equal to 1"]],
    ),
    "not_a_number": Mistake(
        {"bad.yaml": "market:\n  firms: [{name: A, price: .nan}]\n"},
        [["market.firms.0.price", "nan", "finite number"]],
    ),
    "budget_split": Mistake(
        {"bad.yaml": "policies:\n  p: {allocation: {advertising: 0.5, loyalty: 0.2}}\n"},
        [["policies.p.allocation", "0.5", "add up to 0.7", "must add up to 1"]],
    ),
    "extends_loop": Mistake(
        {"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\n"},
        [["extends: loop", "a.yaml", "b.yaml", "cannot extend itself"]],
    ),
    "extends_missing": Mistake(
        {"bad.yaml": "extends: nowhere.yaml\n"}, [["extends", "nowhere.yaml", "no such"]]
    ),
    "duplicate_key": Mistake(
        {"bad.yaml": "market:\n  customers: 100\n  customers: 200\n"},
        [["duplicate key 'customers'", "line 3"]],
    ),
    "three_problems": Mistake(
        {
            "bad.yaml": (
                "market:\n  customers: -5\n  behaviour: {switch_share: 1.5}\n  firm: []\nseed: -1\n"
            )
        },
        [
            ["market.customers", "-5"],
            ["market.behaviour.switch_share", "1.5"],
            ["market.firm", "unknown key"],
            ["seed", "-1", "greater than or equal to 0"],
        ],
    ),
}

EXPERIMENT = (
    "scenario: {scenario}\ncustomers: 200\noverrides: {{market.periods: 3}}\n"
    "factors:\n  - {{path: market.firms.0.price, values: [40, 50]}}\nreplications: 1\n"
)

EXPERIMENT_MISTAKES = {
    "missing_file": Mistake({}, [["no such file"]], given="missing.yaml"),
    "not_yaml": Mistake({"exp.yaml": "factors: [\n"}, [["not valid YAML"]]),
    "not_a_mapping": Mistake({"exp.yaml": "42\n"}, [["holds a int", "mapping"]]),
    "unknown_key": Mistake(
        {"exp.yaml": EXPERIMENT.format(scenario="acquisition_vs_retention") + "factorz: []\n"},
        [["factorz", "unknown key", "allowed keys", "factors"]],
    ),
    "wrong_type": Mistake(
        {"exp.yaml": EXPERIMENT.format(scenario="acquisition_vs_retention") + "seed: soon\n"},
        [["seed", "'soon'", "valid integer"]],
    ),
    "out_of_range": Mistake(
        {
            "exp.yaml": EXPERIMENT.format(scenario="acquisition_vs_retention").replace(
                "replications: 1", "replications: 0"
            )
        },
        [["replications", "0", "greater than or equal to 1"]],
    ),
    "yes_for_a_number": Mistake(
        {
            "exp.yaml": EXPERIMENT.format(scenario="acquisition_vs_retention").replace(
                "replications: 1", "replications: yes"
            )
        },
        [["replications", "True", "a number is needed"]],
    ),
    "factor_path_does_not_exist": Mistake(
        {
            "exp.yaml": EXPERIMENT.format(scenario="acquisition_vs_retention").replace(
                "market.firms.0.price", "market.firms.0.prize"
            )
        },
        [["factors.0.path", "market.firms.0.prize", "no field 'prize'", "price"]],
    ),
    "factor_value_not_allowed": Mistake(
        {
            "exp.yaml": EXPERIMENT.format(scenario="acquisition_vs_retention").replace(
                "market.firms.0.price, values: [40, 50]",
                "market.behaviour.switch_share, values: [0.5, 1.5]",
            )
        },
        [["factors.0", "market.behaviour.switch_share", "1.5", "less than or equal to 1"]],
    ),
    "override_not_allowed": Mistake(
        {
            "exp.yaml": EXPERIMENT.format(scenario="acquisition_vs_retention").replace(
                "market.periods: 3", "market.customers: -1"
            )
        },
        [["overrides", "market.customers", "-1", "greater than or equal to 1"]],
    ),
    "duplicate_key": Mistake(
        {"exp.yaml": EXPERIMENT.format(scenario="acquisition_vs_retention") + "seed: 1\nseed: 2\n"},
        [["duplicate key 'seed'"]],
    ),
    "scenario_with_a_probability_above_1": Mistake(
        {
            "exp.yaml": EXPERIMENT.format(scenario="bad.yaml"),
            "bad.yaml": "market:\n  behaviour: {switch_share: 1.5}\n",
        },
        [["bad.yaml", "market.behaviour.switch_share", "1.5", "less than or equal to 1"]],
        names_file=False,
    ),
    "scenario_extends_loop": Mistake(
        {
            "exp.yaml": EXPERIMENT.format(scenario="a.yaml"),
            "a.yaml": "extends: b.yaml\n",
            "b.yaml": "extends: a.yaml\n",
        },
        [["extends: loop", "a.yaml", "b.yaml"]],
        names_file=False,
    ),
    "missing_scenario": Mistake(
        {"exp.yaml": EXPERIMENT.format(scenario="nowhere.yaml")},
        [["scenario", "nowhere.yaml", "no such file"]],
    ),
}


@dataclass
class Outcome:
    """What a command did."""

    status: int
    out: str
    err: str
    lines: list[str] = field(default_factory=list)


def tree(folder: Path) -> set[str]:
    """Every path under ``folder`` (to tell that nothing was written)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def invoke(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    """Run the command line in this process, as the ``relsim`` script does."""
    capsys.readouterr()
    status = main(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    return Outcome(status, captured.out, captured.err, lines)


def write_files(folder: Path, mistake: Mistake) -> None:
    for name, content in mistake.files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def check_refused(result: Outcome, mistake: Mistake) -> None:
    """Status 2, one ``error:`` line per expected problem with every fragment, no traceback."""
    assert result.status == 2, result.err
    assert "Traceback" not in result.out + result.err
    assert len(result.lines) == len(mistake.expect), result.lines
    for line in result.lines:
        assert line.startswith("error: "), line
        if mistake.names_file:
            assert Path(mistake.target).name in line, f"{line!r} does not name the file"
    for fragments, line in zip(mistake.expect, result.lines, strict=True):
        for fragment in fragments:
            assert fragment in line, f"{fragment!r} not in {line!r}"


@pytest.fixture
def fake_dashboard(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace the dashboard server, so that a test sees whether it would have started."""
    calls: list[tuple] = []
    module = types.ModuleType("simulation.dashboard.server")
    module.serve = lambda *args, **kwargs: calls.append((args, kwargs))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "simulation.dashboard.server", module)
    return calls


@pytest.mark.parametrize("name", list(SCENARIO_MISTAKES))
@pytest.mark.parametrize("command", ["run", "validate", "dashboard"])
def test_scenario_mistakes_are_refused(
    command, name, tmp_path, monkeypatch, capsys, fake_dashboard
):
    mistake = SCENARIO_MISTAKES[name]
    write_files(tmp_path, mistake)
    monkeypatch.chdir(tmp_path)  # the default results folder would be created here
    before = tree(tmp_path)
    argv = [command, mistake.target]
    if command == "run":
        argv += ["--out", "out", "--quiet"]
    result = invoke(argv, capsys)
    check_refused(result, mistake)
    assert tree(tmp_path) == before, "a refused command wrote something"
    assert not fake_dashboard, "the dashboard started on a bad scenario"


@pytest.mark.parametrize("name", list(EXPERIMENT_MISTAKES))
def test_experiment_mistakes_are_refused_by_sweep(name, tmp_path, monkeypatch, capsys):
    pytest.importorskip("simulation.experiments", reason="the experiments package is not here")
    mistake = EXPERIMENT_MISTAKES[name]
    write_files(tmp_path, mistake)
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    result = invoke(["sweep", mistake.target, "--out", "sweep", "--jobs", "1", "-q"], capsys)
    check_refused(result, mistake)
    assert tree(tmp_path) == before, "a refused sweep wrote something"


@pytest.mark.parametrize("name", ["probability_above_1", "extends_loop", "duplicate_key"])
def test_sweep_refuses_a_bad_scenario_given_to_it(name, tmp_path, monkeypatch, capsys):
    """The scenario mistakes also reach ``relsim sweep`` through its experiment file."""
    pytest.importorskip("simulation.experiments", reason="the experiments package is not here")
    mistake = SCENARIO_MISTAKES[name]
    write_files(tmp_path, mistake)
    (tmp_path / "exp.yaml").write_text(EXPERIMENT.format(scenario=mistake.target))
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    result = invoke(["sweep", "exp.yaml", "--out", "sweep", "--jobs", "1", "-q"], capsys)
    check_refused(result, mistake)
    assert tree(tmp_path) == before


def test_a_good_scenario_passes_the_same_checks(tmp_path, monkeypatch, capsys, fake_dashboard):
    """The positive control: the commands above do accept a correct file."""
    (tmp_path / "good.yaml").write_text("extends: acquisition_vs_retention\nname: good\n")
    monkeypatch.chdir(tmp_path)
    assert invoke(["validate", "good.yaml"], capsys).status == 0
    assert invoke(["dashboard", "good.yaml"], capsys).status == 0
    assert len(fake_dashboard) == 1, "the dashboard was not started on a good scenario"


def test_validate_reports_every_bad_file_and_passes_the_good_ones(tmp_path, monkeypatch, capsys):
    (tmp_path / "good.yaml").write_text("market: {customers: 300}\n")
    (tmp_path / "bad1.yaml").write_text("market: {customers: 0}\n")
    (tmp_path / "bad2.yaml").write_text("policies: {p: {budget: -1}}\n")
    monkeypatch.chdir(tmp_path)
    result = invoke(["validate", "bad1.yaml", "good.yaml", "bad2.yaml"], capsys)
    assert result.status == 2
    assert "good.yaml: ok" in result.out
    assert [line.split(":")[1].strip() for line in result.lines] == ["bad1.yaml", "bad2.yaml"]


@pytest.mark.parametrize(
    ("setting", "fragments"),
    [
        ("market.custmers=500", ["market.custmers", "no field 'custmers'", "customers"]),
        ("market.customers=-5", ["market.customers", "-5", "greater than or equal to 1"]),
        ("market.firms.Nobody.price=3", ["no item named 'Nobody'", "Focal"]),
        ("market.firms.0.price=.inf", ["market.firms.0.price", "inf", "finite"]),
        ("market.periods", ["--set", "dotted.path=value"]),
    ],
)
def test_bad_settings_on_the_command_line_are_refused(
    setting, fragments, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    argv = ["run", "acquisition_vs_retention", "--set", setting, "--out", "out", "--quiet"]
    result = invoke(argv, capsys)
    assert result.status == 2 and len(result.lines) == 1, result.err
    for fragment in fragments:
        assert fragment in result.lines[0]
    assert tree(tmp_path) == set()


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "acquisition_vs_retention", "--customers", "0"],
        ["run", "acquisition_vs_retention", "--jobs", "0"],
        ["run", "acquisition_vs_retention", "--bogus"],
        ["run"],
        ["no-such-command"],
    ],
    ids=["customers-0", "jobs-0", "unknown-option", "missing-argument", "unknown-command"],
)
def test_command_line_mistakes_exit_2_without_a_traceback(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = invoke(argv, capsys)
    assert result.status == 2
    assert "Error" in result.err and "Traceback" not in result.err
    assert tree(tmp_path) == set()


def test_report_of_a_missing_folder_is_refused(tmp_path, monkeypatch, capsys):
    pytest.importorskip("simulation.experiments", reason="the experiments package is not here")
    monkeypatch.chdir(tmp_path)
    result = invoke(["report", "nowhere"], capsys)
    assert result.status == 2 and result.lines == ["error: nowhere: no such folder"]


def run_script(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``relsim`` script (what a user types), with a time limit."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [str(RELSIM), *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=env
    )


def test_the_installed_script_refuses_bad_input_with_status_2(tmp_path):
    """The console script, not just ``main()``: a bad file and a bad option both exit 2."""
    (tmp_path / "bad.yaml").write_text("market:\n  behaviour: {switch_share: 1.5}\n")
    bad_file = run_script(["run", "bad.yaml", "--out", "out"], tmp_path)
    assert bad_file.returncode == 2
    assert bad_file.stderr.splitlines() == [
        "error: bad.yaml: market.behaviour.switch_share: 1.5 is not allowed: "
        "Input should be less than or equal to 1"
    ]
    bad_option = run_script(["run", "bad.yaml", "--customers", "0"], tmp_path)
    assert bad_option.returncode == 2
    assert "Traceback" not in bad_option.stderr and "--customers" in bad_option.stderr
    assert tree(tmp_path) == {"bad.yaml"}
