"""The workflow: the paper plan, lint/format, and exact incremental re-runs."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections import Counter
from pathlib import Path

import torch
import yaml
from helpers_data import job_stats

REPO = Path(__file__).resolve().parents[1]


def smk(*args, cwd=REPO, check=True):
    # --nolock: every test writes below its own tmp dir, so it may run beside another snakemake in this repo
    proc = subprocess.run(["snakemake", "--nolock", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def paper_plan_override(tmp_path) -> Path:
    """An overlay for config.yaml: results under tmp_path, and empty SVHN files so that SVHN is
    planned (a dry run never reads them)."""
    svhn = tmp_path / "svhn"
    svhn.mkdir()
    for f in ("train_32x32.mat", "test_32x32.mat"):
        (svhn / f).write_bytes(b"")
    override = tmp_path / "o.yaml"
    data = {"mnist": {"src": "../shared/data/mnist"}, "svhn": {"src": str(svhn)}}
    override.write_text(yaml.safe_dump({"results": str(tmp_path / "res"), "data": data}))
    return override


def test_paper_plan_covers_the_whole_study(tmp_path):
    """snakemake -n on config.yaml plans every artifact (SVHN included when its files exist)."""
    out = smk("-n", "all", "--configfile", "config.yaml", str(paper_plan_override(tmp_path)))
    stats = job_stats(out)
    # no 6-day surprise: the projected time, and on a CPU a warning naming the reduced command
    warnings = [ln for ln in out.splitlines() if ln.startswith("e2sad: warning: the paper's scale on a CPU")]
    if torch.cuda.is_available():  # device auto: the paper's scale on a GPU is what it is for
        assert warnings == [], warnings
    else:
        assert len(warnings) == 1 and "days" in warnings[0] and "--configfile config/reduced.yaml" in warnings[0]
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    # `all` trains the models of the tables and figures (the frontier's own models only `frontier`)
    used = {
        m for t in [*cfg["tables"].values(), *cfg["figures"].values()] for m in t["models"] + t.get("substitutes", [])
    }
    assert len(used) == 14 and not any(cfg["models"][m]["defense"] in ("pgd_at", "trades", "fgsm_rs") for m in used)
    assert stats["train"] == len(used) * len(cfg["seeds"])
    t31, t33, mm = cfg["tables"]["table_3_1"], cfg["tables"]["table_3_3"], cfg["tables"]["minimax"]
    evals = {(m, a) for t in (t31, t33, mm) for m in t["models"] for a in t["attacks"]}
    assert stats["evaluate"] == len(evals)
    assert stats["craft_transfer"] == len(cfg["tables"]["table_3_2"]["substitutes"]) == 6
    assert stats["evaluate_transfer"] == len(cfg["tables"]["table_3_2"]["models"])
    assert stats["table"] == len(cfg["tables"]) and stats["plot_surface"] == 2
    assert stats["surface"] == 2 * len(cfg["figures"]["figure_3_3"]["models"])
    assert stats["prepare_data"] == 2 and stats["cost_table"] == 1


def test_without_svhn_files_table_3_3_is_left_out_with_one_line(tmp_path):
    override = tmp_path / "o.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "results": str(tmp_path / "res"),
                "data": {"mnist": {"src": "../shared/data/mnist"}, "svhn": {"src": str(tmp_path / "nowhere")}},
            }
        )
    )
    out = smk("-n", "all", "--configfile", "config.yaml", str(override))
    notes = [line for line in out.splitlines() if "SVHN left out" in line]
    assert len(notes) == 1 and "train_32x32.mat" in notes[0] and "nowhere" in notes[0]
    jobs = _planned_jobs(out)
    assert jobs and not any("table_3_3" in wc or "svhn_" in wc for _, wc in jobs)


def test_lint_and_format_are_clean():
    assert "Congratulations" in smk("--lint", "--configfile", "config/smoke.yaml")
    fmt = subprocess.run(["snakefmt", "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def _planned_jobs(out: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job in a dry run."""
    jobs, rule = [], None
    for line in out.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if m:
            rule = m.group(1)
            jobs.append([rule, ""])
        elif line.strip().startswith("wildcards:") and jobs:
            jobs[-1][1] = line.strip()[len("wildcards:") :].strip()
    return [tuple(j) for j in jobs]


def test_a_substitutes_white_box_evaluation_reads_what_its_transfer_job_crafted(tmp_path):
    """Table 3.2 crafts IFGSM-30 on each substitute with the arguments of the substitute's own
    white-box IFGSM-30 evaluation (Table 3.1), so that evaluation reads the crafted file (--adv)
    instead of attacking again: the same command otherwise, and every other evaluation attacks."""
    override = tmp_path / "o.yaml"
    override.write_text(yaml.safe_dump({"results": str(tmp_path / "res")}))
    out = smk("-n", "-p", "all", "--configfile", "config.yaml", "config/smoke.yaml", str(override))
    cmds = [ln.split("Shell command: ", 1)[1] for ln in out.splitlines() if "Shell command: python -m e2sad" in ln]

    def parse(cmd):
        toks = shlex.split(cmd.split(" 2>&1")[0])[3:]  # python -m e2sad <sub>
        opts: dict[str, list[str]] = {}
        for t in toks[1:]:
            if t.startswith("--"):
                opt = opts.setdefault(t, [])
            else:
                opt.append(t)
        return toks[0], (opts["--name"][0], opts["--attack-name"][0]), opts

    jobs = [parse(c) for c in cmds if re.search(r"e2sad (craft|evaluate) ", c)]
    crafted = {key: o for sub, key, o in jobs if sub == "craft"}
    evaluated = {key: o for sub, key, o in jobs if sub == "evaluate"}
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["tables"]["table_3_2"]
    assert set(crafted) == {(m, cfg["attack"]) for m in cfg["substitutes"]}
    for key, c in crafted.items():
        e = evaluated[key]
        assert e.pop("--adv") == c.pop("--out"), key
        e.pop("--out")
        assert e == c, key
    assert sum("--adv" in o for o in evaluated.values()) == 0 and len(evaluated) > len(crafted)


def test_changing_e2sad_lambda_reruns_exactly_what_depends_on_it(tmp_path):
    """Complete the smoke study's bookkeeping (outputs + Snakemake's params metadata, via --touch on
    placeholder files), edit lambda of e2SAD in a copy of the config, and read the plan."""
    res = tmp_path / "results"
    override = tmp_path / "o.yaml"
    override.write_text(yaml.safe_dump({"results": str(res)}))
    base = ["--configfile", "config.yaml", "config/smoke.yaml", str(override)]
    summary = smk("--summary", "all", *base)
    outputs = [line.split("\t")[0] for line in summary.splitlines()[1:] if "\t" in line]
    assert len(outputs) > 50
    for f in outputs:
        Path(f).parent.mkdir(parents=True, exist_ok=True)
        Path(f).touch()
    smk("--cores", "1", "--touch", "--forceall", "all", *base)  # every job records its params metadata
    assert "Nothing to be done" in smk("-n", "all", *base)

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    assert cfg["models"]["mnist_e2sad_S"]["lam"] == 0.1
    cfg["models"]["mnist_e2sad_S"]["lam"] = 0.3
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(cfg))
    out = smk("-n", "all", "--configfile", str(edited), "config/smoke.yaml", str(override))
    jobs = _planned_jobs(out)
    by_rule = Counter(rule for rule, _ in jobs)
    smoke = yaml.safe_load((REPO / "config/smoke.yaml").read_text())
    n_attacks = len(cfg["tables"]["table_3_1"]["attacks"])
    assert by_rule["train"] == 1
    assert by_rule["evaluate"] == n_attacks
    assert by_rule["evaluate_transfer"] == 1
    assert by_rule["surface"] == len(smoke["figures"]["figure_3_3"]["panels"])
    assert by_rule["plot_surface"] == 2
    assert by_rule["craft_transfer"] == 0  # e2SAD is no substitute
    # every model-level job is e2SAD's; the tables that contain it re-run, the minimax table does not
    for rule, wc in jobs:
        if "model=" in wc:
            assert "model=mnist_e2sad_S" in wc, (rule, wc)
    tables = {wc for rule, wc in jobs if rule == "table"}
    assert tables == {"table=table_3_1", "table=table_3_2"}
    assert by_rule["cost_table"] == 1
    assert set(by_rule) <= {
        "train",
        "evaluate",
        "evaluate_transfer",
        "surface",
        "plot_surface",
        "table",
        "cost_table",
        "all",
    }


#: every subcommand of ``python -m e2sad`` (the rules build their command lines with these names)
SUBCOMMANDS = {
    "prepare-data",
    "train",
    "evaluate",
    "craft",
    "evaluate-transfer",
    "eps-sweep",
    "surface",
    "plot-surface",
    "table",
    "cost-table",
    "ablation-table",
    "robustness-table",
    "frontier-table",
    "frontier-snapshots",
    "sanity-report",
    "statements",
    "convert-released",
    "released-table",
}


def e2sad_argv(shell_command: str) -> list[str] | None:
    """The arguments after ``python -m e2sad`` of a job's shell command (subcommand first), or None
    when the command does not run e2sad; the redirection to the job's log is left out."""
    toks = shlex.split(shell_command.split(" 2>&1")[0])
    for i in range(len(toks) - 2):
        if toks[i : i + 3] == ["python", "-m", "e2sad"]:
            return toks[i + 3 :]
    return None


def planned_e2sad_commands(out: str) -> list[list[str]]:
    """The e2sad argument lists of every shell command printed by ``snakemake -n -p``."""
    argvs = [e2sad_argv(ln.split("Shell command: ", 1)[1]) for ln in out.splitlines() if "Shell command: " in ln]
    return [a for a in argvs if a]


def test_cli_lists_every_subcommand():
    """``python -m e2sad --help`` lists exactly the subcommands, compared by name (not as
    substrings: "table" is inside "cost-table", "evaluate" inside "evaluate-transfer")."""
    out = subprocess.run(["python", "-m", "e2sad", "--help"], cwd=REPO, capture_output=True, text=True).stdout
    listed = out.split("SUBCOMMAND", 2)[2].split("options:")[0]
    # a name is indented by four spaces; its help's continuation lines by more
    names = {line.split()[0] for line in listed.splitlines() if line.startswith("    ") and line[4] != " "}
    assert names == SUBCOMMANDS


def test_every_planned_command_parses_with_its_subcommand(tmp_path):
    """Each command line the rules build (smoke study, ``all`` and ``frontier``) names a
    subcommand exactly and parses with that subcommand's options: no option was renamed."""
    from e2sad.cli import build_parser

    override = tmp_path / "o.yaml"
    override.write_text(yaml.safe_dump({"results": str(tmp_path / "res")}))
    out = smk("-n", "-p", "--forceall", "all", "frontier", "--configfile", "config/smoke.yaml", str(override))
    argvs = planned_e2sad_commands(out)
    used = {argv[0] for argv in argvs}
    assert used <= SUBCOMMANDS, used - SUBCOMMANDS
    assert {"prepare-data", "train", "evaluate", "craft", "evaluate-transfer", "table", "cost-table"} <= used
    assert {"surface", "plot-surface", "frontier-table", "frontier-snapshots"} <= used
    parsers = {sub: build_parser(sub) for sub in used}
    for argv in argvs:
        assert parsers[argv[0]].parse_args(argv).cmd == argv[0], argv


def test_bf16_overlay_trains_in_bf16_into_its_own_folder_and_evaluates_in_fp32(tmp_path):
    """config/bf16.yaml on top of the reduced config: same plan, every training under
    ``--precision bf16``, results in a folder apart from the fp32 ones."""
    override = tmp_path / "o.yaml"
    override.write_text(yaml.safe_dump({"data": {"mnist": {"src": "../shared/data/mnist"}}}))
    # --forceall: plan every job whatever results/reduced*/ already hold in this checkout
    base = ["-n", "-p", "--forceall", "all", "--configfile", "config/reduced.yaml"]
    fp32 = smk(*base, str(override))
    bf16 = smk(*base, "config/bf16.yaml", str(override))
    assert job_stats(bf16) == job_stats(fp32)
    argvs = planned_e2sad_commands(bf16)
    train = [a for a in argvs if a[0] == "train"]
    assert train and all(a[a.index("--precision") + 1] == "bf16" for a in train)
    assert not any("--precision" in a for a in argvs if a[0] != "train")
    assert "results/reduced-bf16/models/" in bf16 and "results/reduced/models/" not in bf16


def test_a_new_copy_of_the_same_data_reruns_nothing_and_other_bytes_are_an_error(tmp_path):
    """The original files are read by content (ancient + recorded digests): a re-mounted or re-copied
    ../shared/data (new times, same bytes) re-prepares nothing, so nothing trained on it re-runs;
    different bytes stop the plan with one line naming the file and the way out."""
    import os

    import numpy as np
    from helpers_data import write_idx_dir, write_idx_gz

    rng = np.random.default_rng(0)
    src = tmp_path / "mnist"
    files = write_idx_dir(
        src,
        # > 1 MB of random bytes: Snakemake checksums smaller inputs itself (--max-checksum-file-size)
        rng.integers(0, 256, (1400, 28, 28), dtype=np.uint8),
        np.arange(1400, dtype=np.uint8) % 10,
        rng.integers(0, 256, (200, 28, 28), dtype=np.uint8),
        np.arange(200, dtype=np.uint8) % 10,
    )
    override = tmp_path / "o.yaml"
    override.write_text(yaml.safe_dump({"results": str(tmp_path / "res"), "data": {"mnist": {"src": str(src)}}}))
    base = ["--configfile", "config.yaml", "config/smoke.yaml", str(override)]
    prepared = str(tmp_path / "res" / "data" / "mnist.pt")
    smk("--cores", "1", prepared, *base)
    assert "Nothing to be done" in smk("-n", prepared, *base)

    earlier = Path(prepared).stat().st_mtime - 3600  # a new copy of the originals: same bytes, newer times
    for f in Path(prepared).parent.iterdir():
        os.utime(f, (earlier, earlier))
    for f in files.values():
        os.utime(f)
    assert "Nothing to be done" in smk("-n", prepared, *base)

    write_idx_gz(files["test_labels"], (np.arange(200, dtype=np.uint8) + 1) % 10)  # other bytes: the test labels
    out = smk("-n", prepared, *base, check=False)
    errors = [ln for ln in out.splitlines() if ln.startswith("e2sad: error:")]
    assert len(errors) == 1 and "Traceback" not in out, out[-2000:]
    assert "was prepared from other files" in errors[0] and f"delete {prepared}" in errors[0]
    assert "t10k-labels-idx1-ubyte.gz" in errors[0] and "train-labels" not in errors[0]
