# Scientific validity (snakemake science = ablation robustness sanity + statements).
# The plan is e2sad/plan/; tables and checks in e2sad/science/.


# ---- 1. second-step ablation: the variant models are trained and evaluated
# by rules train/evaluate (they are among the Study's models); this renders the table.
rule ablation_table:
    input:
        rows=SCIENCE.ablation_rows(),
        models=SCIENCE.ablation_model_files(),
    output:
        csv=L.path("ablation", ext="csv"),
        tex=L.path("ablation", ext="tex"),
        html=report(
            L.path("ablation", ext="html"),
            caption="../../report/science_ablation.rst",
            category="Science",
            labels={"check": "second-step ablation"},
        ),
    log:
        L.log("ablation_table"),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(SPECS.ablation_spec()),
    shell:
        "python -m e2sad ablation-table --spec {params.spec:q} --rows {input.rows:q} "
        "--models {input.models:q} --out-csv {output.csv:q} --out-tex {output.tex:q} "
        "--out-html {output.html:q} 2>&1 | tee {log:q}"


# ---- 2. stronger evaluation, on the first robustness.n_test test images
use rule evaluate as robust_evaluate with:
    input:
        model=model_in,
        data=data_in,
    output:
        L.path("robust_eval"),
    log:
        L.log("robust_evaluate"),
    wildcard_constraints:
        attack=name_regex(STUDY.science_attacks),
    resources:
        mem_mb=4000,
        runtime=240,
        gpu_slots=GPU_SLOT,
    params:
        attack=lambda w: COMMANDS.attack_args(w.attack),
        attack_hyperparameters=lambda w: COMMANDS.attack_hyperparameters(w.attack),
        common=lambda w: COMMANDS.eval_args(w.model, STUDY.robust),
        adv="",  # on its own test images: never a transfer table's crafted examples


rule robustness_table:
    input:
        SCIENCE.robustness_inputs(),
    output:
        csv=L.path("robustness", ext="csv"),
        tex=L.path("robustness", ext="tex"),
        html=report(
            L.path("robustness", ext="html"),
            caption="../../report/science_robustness.rst",
            category="Science",
            labels={"check": "stronger evaluation"},
        ),
    log:
        L.log("robustness_table"),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(SPECS.robustness_spec()),
    shell:
        "python -m e2sad robustness-table --spec {params.spec:q} --rows {input:q} "
        "--out-csv {output.csv:q} --out-tex {output.tex:q} --out-html {output.html:q} 2>&1 | tee {log:q}"


# ---- 3. sanity checks: eps sweeps, then PASS/FLAG report and figure
rule eps_sweep:
    input:
        model=model_in,
        data=data_in,
    output:
        L.path("sweep"),
    log:
        L.log("eps_sweep"),
    wildcard_constraints:
        sweep=name_regex(SANITY.get("sweeps", {})),
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        sweep=lambda w: COMMANDS.sweep_args(w.sweep),
        eps=" ".join(str(e) for e in SANITY.get("eps", [])),
        common=lambda w: COMMANDS.eval_args(w.model, SANITY),
    shell:
        "python -m e2sad eps-sweep --name {wildcards.model} --model {input.model:q} --data {input.data:q} "
        "--sweep-name {wildcards.sweep} {params.sweep} --eps-list {params.eps} {params.common} "
        "--seed {wildcards.seed} --threads {threads} --out {output:q} 2>&1 | tee {log:q}"


rule sanity_report:
    input:
        sweeps=SCIENCE.sanity_sweeps(),
        whitebox=SCIENCE.sanity_whitebox(),
        transfer=SCIENCE.sanity_transfer(),
    output:
        csv=L.path("sanity", ext="csv"),
        html=report(
            L.path("sanity", ext="html"),
            caption="../../report/science_sanity.rst",
            category="Science",
            labels={"check": "sanity checks"},
        ),
        pdf=report(
            L.path("eps_sweep", ext="pdf"),
            caption="../../report/science_eps_sweep.rst",
            category="Science",
            labels={"check": "eps sweep (pdf)"},
        ),
        png=report(
            L.path("eps_sweep", ext="png"),
            caption="../../report/science_eps_sweep.rst",
            category="Science",
            labels={"check": "eps sweep"},
        ),
    log:
        L.log("sanity_report"),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(SPECS.sanity_spec()),
    shell:
        "python -m e2sad sanity-report --spec {params.spec:q} --sweeps {input.sweeps:q} "
        "--whitebox {input.whitebox:q} --transfer {input.transfer:q} --out-csv {output.csv:q} "
        "--out-html {output.html:q} --out-fig {output.pdf:q} {output.png:q} 2>&1 | tee {log:q}"


# ---- 5. the paper's claims on Table 3.1 and the training cost, PASS/FAIL
rule statements:
    input:
        table=TARGETS.table_outputs(STATEMENTS_TABLE)[0],
        cost=L.path("cost_table", ext="csv"),
    output:
        html=report(
            L.path("statements", ext="html"),
            caption="../../report/science_statements.rst",
            category="Science",
            labels={"check": "checked statements"},
        ),
        md=L.path("statements", ext="md"),
        csv=L.path("statements", ext="csv"),
    log:
        L.log("statements"),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(SPECS.statements_spec()),
    shell:
        "python -m e2sad statements --table {input.table:q} --cost {input.cost:q} --spec {params.spec:q} "
        "--out-html {output.html:q} --out-md {output.md:q} --out-csv {output.csv:q} 2>&1 | tee {log:q}"
