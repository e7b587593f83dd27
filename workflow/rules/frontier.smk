# Beyond the paper: the cost-robustness frontier (snakemake frontier).
# The equal-cost models (<model>__equal_cost, their own steps) are trained by rule
# train (they are in the Study's models); the declared ones are those `all` trains.
# The plan is e2sad/plan/frontier.py; table, figure, statements in e2sad/science/frontier/.


use rule evaluate as frontier_evaluate with:
    input:
        model=model_in,
        data=data_in,
    output:
        L.path("frontier_eval"),
    log:
        L.log("frontier_evaluate"),
    wildcard_constraints:
        attack=name_regex(STUDY.science_attacks),
    resources:
        mem_mb=4000,
        runtime=240,
        gpu_slots=GPU_SLOT,
    params:
        attack=lambda w: COMMANDS.attack_args(w.attack),
        attack_hyperparameters=lambda w: COMMANDS.attack_hyperparameters(w.attack),
        common=lambda w: COMMANDS.eval_args(w.model, STUDY.frontier),
        adv="",  # on its own test images: never a transfer table's crafted examples


rule frontier_table:
    input:
        unpack(frontier_snapshots_in),
        unpack(released_frontier_in),
        rows=FRONTIER.inputs(),
        models=FRONTIER.model_files(),
    output:
        csv=L.path("frontier", ext="csv"),
        tex=L.path("frontier", ext="tex"),
        html=report(
            L.path("frontier", ext="html"),
            caption="../../report/frontier.rst",
            category=FRONTIER.category(),
            labels={"artifact": "cost-robustness frontier (table)"},
        ),
        pdf=L.path("frontier", ext="pdf"),
        png=report(
            L.path("frontier", ext="png"),
            caption="../../report/frontier_figure.rst",
            category=FRONTIER.category(),
            labels={"artifact": "cost-robustness frontier (figure)"},
        ),
        statements=L.path("frontier_statements"),
    log:
        L.log("frontier_table"),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(SPECS.frontier_spec()),
        snapshots=lambda w, input: (
            f"--snapshots {q(input.snapshots)}" if "snapshots" in input.keys() else ""
        ),
        released=lambda w, input: (
            f"--released {' '.join(map(q, input.released))}"
            if "released" in input.keys()
            else ""
        ),
    shell:
        "python -m e2sad frontier-table --spec {params.spec:q} --rows {input.rows:q} --models {input.models:q} "
        "{params.snapshots} {params.released} "
        "--out-csv {output.csv:q} --out-tex {output.tex:q} --out-html {output.html:q} "
        "--out-statements {output.statements:q} --out-fig {output.pdf:q} {output.png:q} 2>&1 | tee {log:q}"


# ---- robustness along training: each snapshot (written by train, beside the model) under
# frontier.snapshot_attacks on the first frontier.snapshot_n_test test images
rule frontier_snapshot_evaluate:
    input:
        model=model_in,
        data=data_in,
    output:
        L.path("snapshot_eval"),
    log:
        L.log("frontier_snapshot_evaluate"),
    wildcard_constraints:
        attack=name_regex(STUDY.science_attacks),
        step=r"\d+",
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu_slots=GPU_SLOT,
    params:
        snapshot=lambda w: L.path("snapshot", model=w.model, seed=w.seed, step=w.step),
        attack=lambda w: COMMANDS.attack_args(w.attack),
        attack_hyperparameters=lambda w: COMMANDS.attack_hyperparameters(w.attack),
        common=lambda w: COMMANDS.snapshot_eval_args(w.model),
    shell:
        "python -m e2sad evaluate --name {wildcards.model}@step{wildcards.step} --model {params.snapshot:q} "
        "--data {input.data:q} --attack-name {wildcards.attack} {params.attack} {params.common} "
        "--seed {wildcards.seed} --threads {threads} --out {output:q} 2>&1 | tee {log:q}"


rule frontier_snapshots:
    input:
        FRONTIER.snapshot_inputs(),
    output:
        csv=L.path("snapshots", ext="csv"),
        html=report(
            L.path("snapshots", ext="html"),
            caption="../../report/frontier_snapshots.rst",
            category=FRONTIER.category(),
            labels={"artifact": "robustness along training (table)"},
        ),
        pdf=L.path("snapshots", ext="pdf"),
        png=report(
            L.path("snapshots", ext="png"),
            caption="../../report/frontier_snapshots.rst",
            category=FRONTIER.category(),
            labels={"artifact": "robustness along training (figure)"},
        ),
    log:
        L.log("frontier_snapshots"),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(SPECS.snapshot_spec()),
    shell:
        "python -m e2sad frontier-snapshots --spec {params.spec:q} --rows {input:q} --out-csv {output.csv:q} "
        "--out-html {output.html:q} --out-fig {output.pdf:q} {output.png:q} 2>&1 | tee {log:q}"
