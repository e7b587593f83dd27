# The config check (one line per problem, before any job) and the small input functions of the
# rules. The study plan (which jobs exist, their command lines, specs and paths) is e2sad/plan/.
import json
import shlex
import sys

from snakemake.utils import min_version, validate

min_version("9.19")

sys.path.insert(0, workflow.basedir)
from e2sad.declare import load_plugins  # noqa: E402
from e2sad.errors import ConfigError, E2sadError  # noqa: E402
from e2sad.plan import STATEMENTS_TABLE, Plan, load_study  # noqa: E402
from e2sad.plan.study import name_regex  # noqa: E402

try:
    load_plugins()
    STUDY = load_study(
        config, base_dir=workflow.basedir, config_files=workflow.configfiles
    )
except ConfigError as exc:
    # One line, no traceback, before any job is scheduled (a WorkflowError
    # would add Snakemake's "WorkflowError in file ..." header and a File line).
    print(f"e2sad: error: {exc}", file=sys.stderr)
    sys.exit(1)
for _w in STUDY.warnings:
    print(f"e2sad: note: {_w}", file=sys.stderr)

validate(config, "../schemas/config.schema.yaml")

PLAN = Plan.of(STUDY)
COMMANDS, SPECS, TARGETS = PLAN.commands, PLAN.specs, PLAN.targets
SCIENCE, COST, FRONTIER = PLAN.science, PLAN.cost, PLAN.frontier
RELEASED = PLAN.released
try:
    COMMANDS.check_prepared()
except E2sadError as exc:
    print(f"e2sad: error: {exc}", file=sys.stderr)
    sys.exit(1)
if workflow.is_main_process:
    # before any job runs: the study's size and its projected time on the device it will use
    for _line in COST.projection(STUDY.device(), workflow._cores or 1)[1]:
        print(f"e2sad: {_line}", file=sys.stderr)

# one unit of the resource gpu_slots per training/evaluation job on a GPU (0 on the CPU):
# `--resources gpu_slots=N` (workflow/profiles/gpu) lets N such jobs share one GPU
GPU_SLOT = STUDY.gpu_slot()
L = STUDY.layout
COMPUTE = STUDY.compute
SANITY = STUDY.sanity


wildcard_constraints:
    **STUDY.wildcards(),


def q(x):
    return shlex.quote(str(x))


def spec_json(spec):
    return json.dumps(spec, sort_keys=True)


# ---- input functions: a rule's inputs for its wildcards


def model_in(w):
    return STUDY.model_file(w.model, w.seed)


def data_in(w):
    return STUDY.data_file(w.model)


def data_sources(w):
    return COMMANDS.data_sources(w.dataset)


def table_in(w):
    return TARGETS.table_inputs(w.table)


def transfer_adv(w):
    return TARGETS.transfer_adv(w.table, w.seed)


def crafted_in(w):
    """A transfer substitute's examples, when this white-box evaluation is the same attack."""
    return TARGETS.crafted_adv(w.model, w.seed, w.attack)


def surface_in(w):
    return TARGETS.surface_inputs(w.figure, w.panel)


def figure_of(w):
    return STUDY.figures[w.figure]


def frontier_snapshots_in(w):
    """snapshots.csv for the frontier's statements, when robustness along training is planned."""
    if not FRONTIER.snapshot_inputs():
        return {}
    return {"snapshots": L.path("snapshots", ext="csv")}


def released_file(w):
    """The released file the user supplied (released.models.<name>.file)."""
    return RELEASED.file(w.released)


def released_data(w):
    return RELEASED.data_file(w.released)


def released_frontier_in(w):
    """The released models' rows under the frontier's robust attack that exist now
    (`snakemake released` measured them): the frontier draws them."""
    if not STUDY.frontier_active():
        return {}
    rows = RELEASED.frontier_rows(STUDY.frontier["robust"])
    return {"released": rows} if rows else {}
