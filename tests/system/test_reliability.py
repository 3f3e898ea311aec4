"""Reliability under attack: each class of failure an adversarial user found, tested as a class.

Most cases are rows of tables: the command line, the exit status, a fragment of the one error
line, and what must exist, intact, afterwards. Every refused command must refuse before it
simulates (the simulation is replaced by one that fails the test), print no traceback and
leave the folder as it was. The rest are real processes: two runs racing for one folder,
``kill -9`` while a report is rewritten, and a run under an address-space cap.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from simulation.cli import main
from simulation.scenario.loading import load_scenario

RELSIM = Path(sys.executable).with_name("relsim")
TINY = ["--customers", "150", "--periods", "3", "--replications", "1", "--jobs", "1", "--quiet"]
SCENARIO = "acquisition_vs_retention"


# --------------------------------------------------------------------------- helpers
def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (hidden ones included) with a hash of its bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[name] = "-> " + os.readlink(path)
        elif path.is_file():
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[name] = "dir"
    return found


def invoke(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the command line in this process: exit status, stdout, stderr."""
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished results folder of a tiny run (copied by the tests that change it)."""
    folder = tmp_path_factory.mktemp("reference") / "res"
    assert main(["run", SCENARIO, *TINY, "--out", str(folder)]) == 0
    return folder


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a refused command starts simulating."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command simulated before refusing")

    monkeypatch.setattr("simulation.runs.runner._run_replications", refuse)


# --------------------------------------------------------------------------- the table
@dataclass
class Attack:
    """One hostile input: what is given and what must come of it."""

    argv: list[str]  # ``{tmp}`` is replaced by the test's folder
    status: int
    fragments: list[str]  # each must be in the error line
    setup: Callable[[Path, Path], None] | None = None  # (tmp, reference run folder)
    simulates: bool = False  # a command that rightly gets as far as simulating
    after: Callable[[Path], None] | None = None  # extra checks of what is on disk


def _thesis(tmp: Path, _: Path) -> None:
    (tmp / "thesis").mkdir()
    (tmp / "thesis" / "chapter1.tex").write_text("\\chapter{One}\n")


def _copy_run(name: str) -> Callable[[Path, Path], None]:
    def setup(tmp: Path, reference: Path) -> None:
        shutil.copytree(reference, tmp / name)

    return setup


def _run_with_note(tmp: Path, reference: Path) -> None:
    shutil.copytree(reference, tmp / "res")
    (tmp / "res" / "notes.txt").write_text("my notes\n")


def _symlink_to_run(tmp: Path, reference: Path) -> None:
    shutil.copytree(reference, tmp / "store" / "res")
    (tmp / "link").symlink_to(tmp / "store" / "res")


def _dangling(tmp: Path, _: Path) -> None:
    (tmp / "link").symlink_to(tmp / "nowhere")


def _a_file(tmp: Path, _: Path) -> None:
    (tmp / "afile").write_text("not a folder\n")


def _damage(name: str, text: str | None) -> Callable[[Path, Path], None]:
    def setup(tmp: Path, reference: Path) -> None:
        shutil.copytree(reference, tmp / "res")
        if text is None:  # truncate
            data = (tmp / "res" / name).read_bytes()
            (tmp / "res" / name).write_bytes(data[: len(data) // 2])
        else:
            (tmp / "res" / name).write_text(text)

    return setup


def _legacy_garbage(tmp: Path, reference: Path) -> None:
    """A folder of an older relsim (no file list in its manifest) with a garbage table."""
    shutil.copytree(reference, tmp / "res")
    manifest = json.loads((tmp / "res" / "manifest.json").read_text())
    del manifest["files"]
    (tmp / "res" / "manifest.json").write_text(json.dumps(manifest))
    (tmp / "res" / "summary.csv").write_text("x,y\n1,2\n")


def _manifest_without(key: str) -> Callable[[Path, Path], None]:
    def setup(tmp: Path, reference: Path) -> None:
        shutil.copytree(reference, tmp / "res")
        manifest = json.loads((tmp / "res" / "manifest.json").read_text())
        del manifest[key]
        (tmp / "res" / "manifest.json").write_text(json.dumps(manifest))

    return setup


def _replaced_through_link(tmp: Path) -> None:
    assert (tmp / "link").is_symlink(), "the link itself must stay a link"
    assert json.loads((tmp / "store" / "res" / "manifest.json").read_text())["complete"]
    hidden = [p.name for p in (tmp / "store").iterdir() if p.name.startswith(".")]
    hidden += [p.name for p in tmp.iterdir() if p.name.startswith(".")]
    assert hidden == [], f"left behind: {hidden}"


RUN = ["run", SCENARIO, *TINY]

OUTPUT_TARGETS = {
    "overwrite_refuses_a_folder_relsim_did_not_write": Attack(
        [*RUN, "--out", "{tmp}/thesis", "--overwrite"],
        2,
        ["relsim did not write", "chapter1.tex", "choose another --out"],
        setup=_thesis,
    ),
    "overwrite_refuses_a_results_folder_with_a_file_added": Attack(
        [*RUN, "--out", "{tmp}/res", "--overwrite"], 2, ["notes.txt"], setup=_run_with_note
    ),
    "existing_results_folder_needs_overwrite": Attack(
        [*RUN, "--out", "{tmp}/res"], 2, ["already exists", "--overwrite"], setup=_copy_run("res")
    ),
    "overwrite_through_a_symlink_leaves_nothing_hidden": Attack(
        [*RUN, "--out", "{tmp}/link", "--overwrite"],
        0,
        [],
        setup=_symlink_to_run,
        simulates=True,
        after=_replaced_through_link,
    ),
    "dangling_symlink": Attack(
        [*RUN, "--out", "{tmp}/link"], 2, ["symbolic link", "does not exist"], setup=_dangling
    ),
    "path_under_a_file": Attack(
        [*RUN, "--out", "{tmp}/afile/res"], 2, ["afile is a file, not a folder"], setup=_a_file
    ),
    "existing_file": Attack([*RUN, "--out", "{tmp}/afile"], 2, ["not a folder"], setup=_a_file),
    "name_too_long_for_the_staging_folder": Attack(
        [*RUN, "--out", "{tmp}/" + "n" * 245], 2, ["245 bytes is not allowed here", "at most"]
    ),
    "current_folder_with_overwrite": Attack(
        [*RUN, "--out", ".", "--overwrite"], 2, ["current folder"]
    ),
    "under_proc": Attack([*RUN, "--out", "/proc/relsim-results"], 2, ["/proc/", "cannot"]),
}

LIMITS = {
    "seed_above_the_range": Attack(
        [*RUN, "--out", "{tmp}/r", "--seed", str(2**63)], 2, ["--seed", "9223372036854775807"]
    ),
    "seed_far_above_the_range": Attack(
        [*RUN, "--out", "{tmp}/r", "--seed", str(2**64 + 5)], 2, ["--seed"]
    ),
    "replications_above_the_file_limit": Attack(
        [*RUN, "--out", "{tmp}/r", "--replications", "10000000"], 2, ["--replications", "100000"]
    ),
    "equivalence_margin_flag_out_of_range": Attack(
        [*RUN, "--out", "{tmp}/r", "--equivalence-margin", "1.5"],
        2,
        ["--equivalence-margin", "equivalence_margin: 1.5", "less than 1"],
    ),
    "equivalence_margin_in_a_file_out_of_range": Attack(
        ["run", "{tmp}/s.yaml", "--out", "{tmp}/r"],
        2,
        ["s.yaml: equivalence_margin: -0.1", "greater than or equal to 0"],
        setup=lambda tmp, _: (tmp / "s.yaml").write_text("equivalence_margin: -0.1\n"),
    ),
    "seed_in_a_file_above_the_range": Attack(
        ["run", "{tmp}/s.yaml", "--out", "{tmp}/r"],
        2,
        ["seed", "9223372036854775808", "is not allowed"],
        setup=lambda tmp, _: (tmp / "s.yaml").write_text(f"seed: {2**63}\n"),
    ),
}


def _fifo(tmp: Path, _: Path) -> None:
    os.mkfifo(tmp / "pipe.yaml")


def _laughs(tmp: Path, _: Path) -> None:
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 12):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    (tmp / "laughs.yaml").write_text(text)


def _table_design(tmp: Path) -> None:
    (tmp / "t.yaml").write_text(
        "name: t\nscenario: acquisition_vs_retention\ndesign: {kind: table, file: table}\n"
    )


def _chain(tmp: Path, _: Path) -> None:
    (tmp / "c0.yaml").write_text("name: deep\n")
    for i in range(1, 1000):
        (tmp / f"c{i}.yaml").write_text(f"extends: c{i - 1}.yaml\n")


INPUTS = {
    "fifo_as_scenario": Attack(["validate", "{tmp}/pipe.yaml"], 2, ["FIFO"], setup=_fifo),
    "fifo_as_experiment": Attack(
        ["sweep", "{tmp}/pipe.yaml", "--out", "{tmp}/s"], 2, ["FIFO"], setup=_fifo
    ),
    "dev_zero_as_scenario": Attack(["validate", "/dev/zero"], 2, ["character device"]),
    "dev_zero_as_experiment": Attack(
        ["sweep", "/dev/zero", "--out", "{tmp}/s"], 2, ["character device"]
    ),
    "folder_as_scenario": Attack(["run", "{tmp}", "--out", "{tmp}/r"], 2, ["is a folder"]),
    "file_too_large": Attack(
        ["validate", "{tmp}/big.yaml"],
        2,
        ["bytes is not allowed", "at most 4,194,304"],
        setup=lambda tmp, _: (tmp / "big.yaml").write_text("# " + "x" * 5_000_000 + "\n"),
    ),
    "alias_expansion": Attack(
        ["validate", "{tmp}/laughs.yaml"], 2, ["expands to more than"], setup=_laughs
    ),
    "alias_to_itself": Attack(
        ["validate", "{tmp}/rec.yaml"],
        2,
        ["refers to itself"],
        setup=lambda tmp, _: (tmp / "rec.yaml").write_text("market: &m\n  x: *m\n"),
    ),
    "extends_chain_of_a_thousand_files": Attack(
        ["validate", "{tmp}/c999.yaml"], 2, ["chain of more than 64 files"], setup=_chain
    ),
    "markup_in_a_value": Attack(
        ["validate", "{tmp}/m.yaml"],
        2,
        ["market.network.kind", "'[bold]none[/]'", "is not allowed"],
        setup=lambda tmp, _: (tmp / "m.yaml").write_text(
            "market: {network: {kind: '[bold]none[/]'}}\n"
        ),
    ),
    "markup_in_a_file_name": Attack(
        ["validate", "{tmp}/[red]x.yaml"],
        2,
        ["[red]x.yaml", "market.customers"],
        setup=lambda tmp, _: (tmp / "[red]x.yaml").write_text("name: x\nmarket: {customers: -1}\n"),
    ),
    "design_table_that_is_a_folder": Attack(
        ["sweep", "{tmp}/t.yaml", "--out", "{tmp}/s"],
        2,
        ["t.yaml: design.file: 'table' is not allowed", "is a folder"],
        setup=lambda tmp, _: ((tmp / "table").mkdir(), _table_design(tmp)),
    ),
    "design_table_that_is_a_fifo": Attack(  # reading it would wait for a writer forever
        ["sweep", "{tmp}/t.yaml", "--out", "{tmp}/s"],
        2,
        ["design.file: 'table' is not allowed", "FIFO"],
        setup=lambda tmp, _: (os.mkfifo(tmp / "table"), _table_design(tmp)),
    ),
    "design_table_too_large": Attack(
        ["sweep", "{tmp}/t.yaml", "--out", "{tmp}/s"],
        2,
        ["design.file: 'table' is not allowed", "at most 4,194,304 bytes"],
        setup=lambda tmp, _: (
            (tmp / "table").write_text("x\n" + "1\n" * 2_200_000),
            _table_design(tmp),
        ),
    ),
    "unknown_experiment_name": Attack(
        ["sweep", "nonesuch", "--out", "{tmp}/s"],
        2,
        ["nonesuch: no such file", "bundled experiments", "break_even"],
    ),
    "unknown_scheduler_scheme": Attack(
        ["sweep", "{tmp}/e.yaml", "--scheduler", "foo://host:1", "--out", "{tmp}/s", "-q"],
        2,
        ["--scheduler foo://host:1", "scheme foo://", "tcp://"],
        setup=lambda tmp, _: (tmp / "e.yaml").write_text(SWEEP),
    ),
}

REPORTS = {
    "truncated_manifest": Attack(
        ["report", "{tmp}/res"], 2, ["damaged results folder"], setup=_damage("manifest.json", None)
    ),
    "garbage_summary": Attack(
        ["report", "{tmp}/res"],
        2,
        ["summary.csv", "changed since relsim wrote it"],
        setup=_damage("summary.csv", "garbage,,\n\x01\n"),
    ),
    "garbage_summary_in_an_older_folder": Attack(
        ["report", "{tmp}/res"], 2, ["damaged results folder"], setup=_legacy_garbage
    ),
    "manifest_lacking_keys": Attack(
        ["report", "{tmp}/res"],
        2,
        ["damaged results folder", "policies"],
        setup=_manifest_without("policies"),
    ),
}

SWEEP = """\
name: tiny
scenario: acquisition_vs_retention
customers: 150
overrides: {market.periods: 3}
policies: [acquisition_heavy, retention_focused]
factors:
  - {path: market.customer.base_churn_rate.mean, name: churn_mean, values: [0.02, 0.05]}
design: {kind: full_factorial}
outcomes: [npv]
replications: 3
seed: 3
"""

TABLE = {**OUTPUT_TARGETS, **LIMITS, **INPUTS, **REPORTS}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(TABLE))
def test_attack(name, tmp_path, run_folder, monkeypatch, capsys):
    attack = TABLE[name]
    work = tmp_path / "work"
    work.mkdir()
    if attack.setup is not None:
        attack.setup(work, run_folder)
    if not attack.simulates:
        monkeypatch.setattr(
            "simulation.runs.runner._run_replications",
            lambda *a, **k: (_ for _ in ()).throw(AssertionError("simulated before refusing")),
        )
    monkeypatch.chdir(work)
    before = snapshot(work)
    argv = [a.replace("{tmp}", str(work)) for a in attack.argv]
    code, out, err = invoke(argv, capsys)
    assert code == attack.status, (out, err)
    assert "Traceback" not in out + err
    if attack.status:
        lines = [line for line in err.splitlines() if line.startswith(("error:", "Error:"))]
        assert len(lines) == 1, err
        for fragment in attack.fragments:
            assert fragment in lines[0], (fragment, lines[0])
        assert "Results:" not in out
        assert snapshot(work) == before, "a refused command changed the folder"
    if attack.after is not None:
        attack.after(work)


def test_markup_in_a_folder_name_is_printed_as_it_is(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke([*RUN, "--out", "[bold]res"], capsys)
    assert code == 0, err
    assert "Results: [bold]res/" in out
    assert (tmp_path / "[bold]res" / "manifest.json").is_file()


def test_markup_in_a_sweep_folder_name_is_printed_as_it_is(sweeps, tmp_path, capsys):
    folder = tmp_path / "[bold]s"
    shutil.copytree(sweeps[0], folder)
    (tmp_path / "e.yaml").write_text(SWEEP)
    code, out, err = invoke(["sweep", str(tmp_path / "e.yaml"), "--out", str(folder)], capsys)
    assert code == 0, err
    assert f"into {folder}/" in err  # the banner
    assert f"Report: {folder}/report.md" in out
    code, out, err = invoke(["report", str(folder)], capsys)
    assert code == 0 and f"Report: {folder}/report.md" in out


def test_the_scenario_sets_the_equivalence_margin_and_the_flag_overrides_it(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(f"extends: {SCENARIO}.yaml\nequivalence_margin: 0.05\n")
    runs = {"file": [], "flag": ["--equivalence-margin", "0.2"]}
    for name, flag in runs.items():
        out = tmp_path / name
        assert main(["run", str(tmp_path / "s.yaml"), *TINY, "--out", str(out), *flag]) == 0
        runs[name] = json.loads((out / "manifest.json").read_text())["equivalence_margin"]
        again = load_scenario(out / "scenario.yaml").equivalence_margin
        assert again == runs[name]  # the written scenario reproduces the report's margin
    assert runs == {"file": 0.05, "flag": 0.2}
    capsys.readouterr()


# --------------------------------------------------------------------------- one range
def test_the_schema_the_flags_and_the_limits_agree():
    """Seeds and replications: one range for files, experiment files, flags and the API."""
    from simulation.experiments.spec import ExperimentSpec
    from simulation.limits import MAX_REPLICATIONS, SEED_MAX
    from simulation.scenario.schema import Scenario

    def bounds(model, name):
        found = {}
        for rule in model.model_fields[name].metadata:
            for key in ("ge", "gt", "le", "lt"):
                if getattr(rule, key, None) is not None:
                    found[key] = getattr(rule, key)
        low = found.get("ge", found.get("gt", -1) + 1)
        high = found.get("le", found.get("lt", 0) - 1)
        return low, high

    for model in (Scenario, ExperimentSpec):
        assert bounds(model, "seed") == (0, SEED_MAX)
        assert bounds(model, "replications") == (1, MAX_REPLICATIONS)


def test_the_largest_seed_runs_and_its_scenario_reproduces_the_run(tmp_path, capsys):
    from simulation.limits import SEED_MAX

    out = tmp_path / "r"
    assert main([*RUN, "--out", str(out), "--seed", str(SEED_MAX)]) == 0
    again = tmp_path / "again"
    assert main(["run", str(out / "scenario.yaml"), "--quiet", "--out", str(again)]) == 0
    first = pd.read_csv(out / "summary.csv")
    second = pd.read_csv(again / "summary.csv")
    pd.testing.assert_frame_equal(first, second)
    capsys.readouterr()


API_MISTAKES = {
    "word_of_mouth_not_a_boolean": ({"word_of_mouth": "maybe"}, ["word_of_mouth", "'maybe'"]),
    "loyalty_not_a_boolean": ({"loyalty": "perhaps"}, ["keyword loyalty", "'perhaps'"]),
    "customers_not_whole": ({"customers": 2.9}, ["keyword customers", "2.9", "integer"]),
    "customers_yes": ({"customers": True}, ["keyword customers", "True"]),
    "retention_share_above_1": ({"retention_share": 1.5}, ["retention_share", "1.5"]),
    "unknown_control": ({"loyality": True}, ["loyality", "unknown"]),
}


@pytest.mark.parametrize("name", list(API_MISTAKES))
def test_keyword_controls_are_validated_like_files(name):
    from simulation import RelationshipMarket
    from simulation.errors import UserError

    controls, fragments = API_MISTAKES[name]
    with pytest.raises(UserError) as raised:
        RelationshipMarket(**{"customers": 100, **controls})
    (line,) = raised.value.problems
    for fragment in fragments:
        assert fragment in line


def test_keyword_controls_read_yes_and_no_as_files_do():
    """``"no"``/``"false"`` mean off, as in a YAML file; they used to switch things on."""
    from simulation import RelationshipMarket

    model = RelationshipMarket(customers=100, word_of_mouth="no", loyalty="false")
    assert model.config.market.responses.word_of_mouth.enabled is False
    assert model.config.policies[model.policy_name].allocation.loyalty == 0.0
    on = RelationshipMarket(customers=100, word_of_mouth="yes", loyalty="true")
    assert on.config.market.responses.word_of_mouth.enabled is True
    assert on.config.policies[on.policy_name].allocation.loyalty > 0


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"replications": 0}, "replications: 0 is not allowed"),
        ({"replications": 10_000_000}, "replications: 10000000 is not allowed"),
        ({"seed": 2**63}, "seed: 9223372036854775808 is not allowed"),
        ({"seed": -1}, "seed: -1 is not allowed"),
    ],
)
def test_run_scenario_checks_replications_and_seed_before_running(settings, fragment, monkeypatch):
    from simulation import load_scenario, run_scenario
    from simulation.errors import UserError

    monkeypatch.setattr(
        "simulation.runs.runner._run_replications",
        lambda *a, **k: (_ for _ in ()).throw(AssertionError("simulated before refusing")),
    )
    with pytest.raises(UserError) as raised:
        run_scenario(load_scenario(SCENARIO), **settings)
    assert fragment in raised.value.problems[0]


# --------------------------------------------------------------------------- disk errors
def test_a_full_disk_is_one_line_and_the_previous_result_stays(
    tmp_path, run_folder, capsys, monkeypatch
):
    import errno

    shutil.copytree(run_folder, tmp_path / "res")
    before = snapshot(tmp_path)
    real = pd.DataFrame.to_csv

    def full(self, path=None, *args, **kwargs):
        if path is not None and "timeseries" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    code, out, err = invoke([*RUN, "--out", str(tmp_path / "res"), "--overwrite"], capsys)
    assert code == 3
    assert "No space left on device" in err and "nothing was written" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before  # staging folder gone, previous result intact


# --------------------------------------------------------------------------- dashboard
def test_dashboard_port_out_of_range_is_refused_before_any_address(capsys):
    for port in ("70000", "-5"):
        code, out, err = invoke(["dashboard", "--port", port], capsys)
        assert code == 2
        assert "http://" not in out + err


def test_dashboard_refuses_an_unresolvable_host_and_a_port_in_use(capsys, monkeypatch):
    from simulation.dashboard import server

    started: list[object] = []
    monkeypatch.setattr(server, "start", lambda *a, **k: started.append(a))
    code, out, err = invoke(["dashboard", "--host", "no-such-host.invalid"], capsys)
    assert code == 2 and "cannot be resolved" in err and "http://" not in out
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = invoke(["dashboard", "--port", str(port)], capsys)
    assert code == 2 and "cannot listen there" in err and "http://" not in out
    assert started == [], "no server may start when the address is refused"


def test_dashboard_on_every_address_warns_and_announces_only_when_ready(capsys, monkeypatch):
    from simulation.dashboard import server

    events: list[str] = []

    class Process:
        returncode = 0

        def wait(self, timeout=None):
            events.append("served")
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(server, "start", lambda *a, **k: (Process(), "http://0.0.0.0:1/"))
    monkeypatch.setattr(server, "wait_until_ready", lambda *a, **k: events.append("ready"))
    server.serve(None, host="0.0.0.0")
    captured = capsys.readouterr()
    assert "everyone who can reach this machine" in captured.err
    assert "reverse proxy" in captured.err
    assert events == ["ready", "served"]


# --------------------------------------------------------------------------- concurrency
def _race(out: str, seed: int, barrier, results) -> None:  # pragma: no cover - in a child
    from simulation.runs import folder

    # Figures take most of a tiny run's time and play no part in claiming the folder.
    folder._write_report = lambda results, where, seconds: (where / "report.md").write_text("-\n")
    barrier.wait()
    code = main([*RUN, "--out", out, "--seed", str(seed)])
    results.put((seed, code))


@pytest.mark.timeout(120)
def test_two_runs_racing_for_one_new_folder_one_wins_the_other_says_so(tmp_path, run_folder):
    """Twenty trials: exactly one run exits 0 and its results are the folder's.

    The runs are forked from this process, which has run the model once already (the
    ``run_folder`` fixture), so that they start together within milliseconds.
    """
    from simulation.runs.folder import load_run

    context = multiprocessing.get_context("fork")
    for trial in range(20):
        out = tmp_path / f"res{trial}"
        barrier, results = context.Barrier(2), context.Queue()
        children = [
            context.Process(target=_race, args=(str(out), seed, barrier, results))
            for seed in (trial * 2 + 1, trial * 2 + 2)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        codes = dict(results.get(timeout=5) for _ in children)
        winners = [seed for seed, code in codes.items() if code == 0]
        assert len(winners) == 1, codes
        assert sorted(codes.values())[1] in (2, 3), codes  # "already exists" or "in use"
        assert load_run(out).scenario.seed == winners[0]
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --------------------------------------------------------------------------- kill -9
PNG_END = b"IEND\xaeB`\x82"


@pytest.mark.timeout(120)
def test_kill_9_during_report_leaves_every_file_whole(tmp_path, run_folder):
    from simulation.runs.folder import load_run

    folder = tmp_path / "res"
    shutil.copytree(run_folder, folder)
    rng = random.Random(16)
    for _ in range(4):
        process = subprocess.Popen([str(RELSIM), "report", str(folder)], cwd=tmp_path)
        time.sleep(rng.uniform(1.2, 3.0))  # loading takes about a second, drawing about two
        process.send_signal(signal.SIGKILL)
        process.wait()
        for png in (folder / "plots").glob("*.png"):
            assert png.read_bytes().endswith(PNG_END), f"{png.name} is truncated"
        assert (folder / "report.md").read_text().endswith("\n")
        load_run(folder)  # the tables still pass their checksums
    done = subprocess.run([str(RELSIM), "report", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- sweep folders
@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished tiny sweep (seed 3) and the same experiment under another seed."""
    root = tmp_path_factory.mktemp("sweeps")
    (root / "e3.yaml").write_text(SWEEP)
    (root / "e4.yaml").write_text(SWEEP.replace("seed: 3", "seed: 4"))
    for seed in (3, 4):
        assert (
            main(
                [
                    "sweep",
                    str(root / f"e{seed}.yaml"),
                    "--out",
                    str(root / f"s{seed}"),
                    "-j",
                    "1",
                    "-q",
                ]
            )
            == 0
        )
    return root / "s3", root / "s4"


def _points(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "points.csv").query("outcome == 'npv'")


def test_a_foreign_run_file_is_set_aside_and_changes_nothing(sweeps, tmp_path, capsys):
    mine, other = sweeps
    folder = tmp_path / "s"
    shutil.copytree(mine, folder)
    expected = _points(mine)
    foreign = sorted((other / "runs").iterdir())[0]
    shutil.copy(foreign, folder / "runs" / foreign.name)
    code, out, err = invoke(["report", str(folder)], capsys)
    assert code == 0
    warnings = [line for line in err.splitlines() if "set aside" in line]
    assert len(warnings) == 1 and "1 not written by this sweep" in warnings[0]
    assert (folder / "set_aside" / foreign.name).is_file()
    pd.testing.assert_frame_equal(_points(folder), expected)  # n and means unchanged


def test_a_damaged_run_file_is_set_aside_and_only_its_runs_are_computed_again(
    sweeps, tmp_path, capsys
):
    mine, _ = sweeps
    folder = tmp_path / "s"
    shutil.copytree(mine, folder)
    victim = sorted((folder / "runs").iterdir())[-1]
    victim.write_bytes(victim.read_bytes()[:200])  # as a kill -9 mid-write of another tool
    code, out, err = invoke(["report", str(folder)], capsys)
    assert code == 0 and "Traceback" not in err
    assert "1 damaged" in err and "partial sweep" in err
    experiment = folder.parent / "e3.yaml"
    experiment.write_text(SWEEP)
    code, out, err = invoke(
        ["sweep", str(experiment), "--out", str(folder), "-j", "1", "-q"], capsys
    )
    assert code == 0, err
    assert "(3 runs) already done" in out or "skipped 3 runs" in out, (
        out
    )  # only the 3 lost ones ran
    pd.testing.assert_frame_equal(_points(folder), _points(mine))


# --------------------------------------------------------------------------- memory
def _little_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "simulation.limits.available_memory", lambda: (64 * 2**20, "a test's memory limit")
    )


def test_a_sweep_too_large_for_memory_is_refused_before_its_folder_is_touched(
    sweeps, tmp_path, monkeypatch, capsys
):
    """Refused up front (status 3, nothing written); insisting resumes the finished sweep."""
    (tmp_path / "e.yaml").write_text(SWEEP)
    folder = tmp_path / "s"
    shutil.copytree(sweeps[0], folder)
    before = snapshot(tmp_path)
    _little_memory(monkeypatch)
    argv = ["sweep", str(tmp_path / "e.yaml"), "--out", str(folder), "-j", "1", "-q"]
    code, out, err = invoke(argv, capsys)
    assert code == 3 and "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    for fragment in ("the sweep needs about", "150 customers", "a test's memory limit"):
        assert fragment in line
    assert "--skip-memory-check" in line
    assert snapshot(tmp_path) == before
    code, out, err = invoke([*argv, "--skip-memory-check"], capsys)
    assert code == 0, err  # every run was on disk: nothing simulated


def test_an_optimisation_too_large_for_memory_is_refused_up_front(tmp_path, monkeypatch, capsys):
    (tmp_path / "o.yaml").write_text(OPTIMISATION)
    _little_memory(monkeypatch)
    code, _, err = invoke(
        ["optimise", str(tmp_path / "o.yaml"), "--out", str(tmp_path / "o")], capsys
    )
    assert code == 3 and "the optimisation needs about" in err and "--skip-memory-check" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.yaml"]


OPTIMISATION = """\
name: toy
scenario: acquisition_vs_retention
customers: 150
decision:
  policy: balanced
  variables: [{path: budget, range: [5000, 15000]}]
search: {trials: 2, batch: 2, startup_trials: 2, replications: 2}
seed: 1
"""

CAPPED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
from simulation.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(120)
def test_memory_is_refused_up_front_under_an_address_space_cap(tmp_path):
    """Under ``ulimit -v`` of 1.3 GiB, 20 million customers are refused before anything runs."""
    cap = 1300 * 2**20  # relsim itself takes about 0.8 GiB of address space once imported
    script = CAPPED.format(cap=cap)
    argv = ["run", SCENARIO, "--customers", "20000000", "--periods", "2", "--replications", "1"]
    argv += ["--jobs", "1", "--quiet", "--out", str(tmp_path / "big")]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 3, done.stderr
    assert "address-space limit" in done.stderr and "GiB" in done.stderr
    assert "--skip-memory-check" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 30  # refused, not attempted
    assert list(tmp_path.iterdir()) == []
    # Insisting gets as far as the allocation that fails: still one line, status 3.
    done = subprocess.run(
        [sys.executable, "-c", script, *argv, "--skip-memory-check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 3, done.stderr
    assert "out of memory" in done.stderr and "Traceback" not in done.stderr
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
