# Beyond the paper: the cost-robustness frontier (snakemake frontier).
# The equal-cost models (<model>__equal_cost, their own steps) are trained by rule
# train (they are in the Study's models); the declared ones are those `all` trains.
# The plan is e2sad/study.py (frontier_*); table, figure, statements in e2sad/science/frontier.py.


use rule evaluate as frontier_evaluate with:
    input:
        model=model_in,
        data=data_in,
    output:
        f"{R}/frontier/eval/{{model}}/seed{{seed}}/{{attack}}.json",
    log:
        f"{R}/logs/frontier/evaluate/{{model}}/seed{{seed}}/{{attack}}.log",
    wildcard_constraints:
        attack=regex(STUDY.science_attacks),
    resources:
        mem_mb=4000,
        runtime=240,
        gpu_slots=GPU_SLOT,
    params:
        attack=lambda w: STUDY.attack_args(w.attack),
        common=lambda w: STUDY.eval_args(w.model, STUDY.frontier),
        adv="",  # on its own test images: never a transfer table's crafted examples


rule frontier_table:
    input:
        unpack(frontier_snapshots_in),
        rows=STUDY.frontier_inputs(),
        models=STUDY.frontier_model_files(),
    output:
        csv=f"{R}/frontier/frontier.csv",
        tex=f"{R}/frontier/frontier.tex",
        html=report(
            f"{R}/frontier/frontier.html",
            caption="../../report/frontier.rst",
            category="Frontier",
            labels={"artifact": "cost-robustness frontier (table)"},
        ),
        pdf=f"{R}/frontier/frontier.pdf",
        png=report(
            f"{R}/frontier/frontier.png",
            caption="../../report/frontier_figure.rst",
            category="Frontier",
            labels={"artifact": "cost-robustness frontier (figure)"},
        ),
    log:
        f"{R}/logs/frontier/frontier_table.log",
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(STUDY.frontier_spec()),
        snapshots=lambda w, input: (
            f"--snapshots {q(input.snapshots)}" if "snapshots" in input.keys() else ""
        ),
    shell:
        "python -m e2sad frontier-table --spec {params.spec:q} --rows {input.rows:q} --models {input.models:q} "
        "{params.snapshots} "
        "--out-csv {output.csv:q} --out-tex {output.tex:q} --out-html {output.html:q} "
        "--out-fig {output.pdf:q} {output.png:q} 2>&1 | tee {log:q}"


# ---- robustness along training: each snapshot (written by train, beside the model) under
# frontier.snapshot_attacks on the first frontier.snapshot_n_test test images
rule frontier_snapshot_evaluate:
    input:
        model=model_in,
        data=data_in,
    output:
        f"{R}/frontier/snapshots/{{model}}/seed{{seed}}/step{{step}}/{{attack}}.json",
    log:
        f"{R}/logs/frontier/snapshot/{{model}}/seed{{seed}}/step{{step}}/{{attack}}.log",
    wildcard_constraints:
        attack=regex(STUDY.science_attacks),
        step=r"\d+",
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu_slots=GPU_SLOT,
    params:
        snapshot=lambda w: f"{STUDY.snapshot_dir(w.model, w.seed)}/step{w.step}.pt",
        attack=lambda w: STUDY.attack_args(w.attack),
        common=lambda w: STUDY.snapshot_eval_args(w.model),
    shell:
        "python -m e2sad evaluate --name {wildcards.model}@step{wildcards.step} --model {params.snapshot:q} "
        "--data {input.data:q} --attack-name {wildcards.attack} {params.attack} {params.common} "
        "--seed {wildcards.seed} --threads {threads} --out {output:q} 2>&1 | tee {log:q}"


rule frontier_snapshots:
    input:
        STUDY.snapshot_inputs(),
    output:
        csv=f"{R}/frontier/snapshots.csv",
        html=report(
            f"{R}/frontier/snapshots.html",
            caption="../../report/frontier_snapshots.rst",
            category="Frontier",
            labels={"artifact": "robustness along training (table)"},
        ),
        pdf=f"{R}/frontier/snapshots.pdf",
        png=report(
            f"{R}/frontier/snapshots.png",
            caption="../../report/frontier_snapshots.rst",
            category="Frontier",
            labels={"artifact": "robustness along training (figure)"},
        ),
    log:
        f"{R}/logs/frontier/snapshots.log",
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(STUDY.snapshot_spec()),
    shell:
        "python -m e2sad frontier-snapshots --spec {params.spec:q} --rows {input:q} --out-csv {output.csv:q} "
        "--out-html {output.html:q} --out-fig {output.pdf:q} {output.png:q} 2>&1 | tee {log:q}"
