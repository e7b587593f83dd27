# Scientific validity (snakemake science = ablation robustness sanity + statements).
# The plan is e2sad/study.py; tables and checks in e2sad/science/.


# ---- 1. second-step ablation: the variant models are trained and evaluated
# by rules train/evaluate (they are in MODELS); this renders the table.
rule ablation_table:
    input:
        rows=STUDY.ablation_rows(),
        models=STUDY.ablation_model_files(),
    output:
        csv=f"{R}/science/ablation.csv",
        tex=f"{R}/science/ablation.tex",
        html=report(
            f"{R}/science/ablation.html",
            caption="../../report/science_ablation.rst",
            category="Science",
            labels={"check": "second-step ablation"},
        ),
    log:
        f"{R}/logs/science/ablation_table.log",
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(STUDY.ablation_spec()),
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
        f"{R}/science/robustness/eval/{{model}}/seed{{seed}}/{{attack}}.json",
    log:
        f"{R}/logs/science/robust_evaluate/{{model}}/seed{{seed}}/{{attack}}.log",
    wildcard_constraints:
        attack=regex(STUDY.science_attacks),
    resources:
        mem_mb=4000,
        runtime=240,
        gpu_slots=GPU_SLOT,
    params:
        attack=lambda w: STUDY.attack_args(w.attack),
        common=lambda w: STUDY.eval_args(w.model, STUDY.robust),
        adv="",  # on its own test images: never a transfer table's crafted examples


rule robustness_table:
    input:
        STUDY.robustness_inputs(),
    output:
        csv=f"{R}/science/robustness.csv",
        tex=f"{R}/science/robustness.tex",
        html=report(
            f"{R}/science/robustness.html",
            caption="../../report/science_robustness.rst",
            category="Science",
            labels={"check": "stronger evaluation"},
        ),
    log:
        f"{R}/logs/science/robustness_table.log",
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(STUDY.robustness_spec()),
    shell:
        "python -m e2sad robustness-table --spec {params.spec:q} --rows {input:q} "
        "--out-csv {output.csv:q} --out-tex {output.tex:q} --out-html {output.html:q} 2>&1 | tee {log:q}"


# ---- 3. sanity checks: eps sweeps, then PASS/FLAG report and figure
rule eps_sweep:
    input:
        model=model_in,
        data=data_in,
    output:
        f"{R}/science/sanity/sweep/{{model}}/seed{{seed}}/{{sweep}}.json",
    log:
        f"{R}/logs/science/eps_sweep/{{model}}/seed{{seed}}/{{sweep}}.log",
    wildcard_constraints:
        sweep=regex(SANITY.get("sweeps", {})),
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        sweep=lambda w: STUDY.sweep_args(w.sweep),
        eps=" ".join(str(e) for e in SANITY.get("eps", [])),
        common=lambda w: STUDY.eval_args(w.model, SANITY),
    shell:
        "python -m e2sad eps-sweep --name {wildcards.model} --model {input.model:q} --data {input.data:q} "
        "--sweep-name {wildcards.sweep} {params.sweep} --eps-list {params.eps} {params.common} "
        "--seed {wildcards.seed} --threads {threads} --out {output:q} 2>&1 | tee {log:q}"


rule sanity_report:
    input:
        sweeps=STUDY.sanity_sweeps(),
        whitebox=STUDY.sanity_whitebox(),
        transfer=STUDY.sanity_transfer(),
    output:
        csv=f"{R}/science/sanity.csv",
        html=report(
            f"{R}/science/sanity.html",
            caption="../../report/science_sanity.rst",
            category="Science",
            labels={"check": "sanity checks"},
        ),
        pdf=report(
            f"{R}/science/figures/eps_sweep.pdf",
            caption="../../report/science_eps_sweep.rst",
            category="Science",
            labels={"check": "eps sweep (pdf)"},
        ),
        png=report(
            f"{R}/science/figures/eps_sweep.png",
            caption="../../report/science_eps_sweep.rst",
            category="Science",
            labels={"check": "eps sweep"},
        ),
    log:
        f"{R}/logs/science/sanity_report.log",
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(STUDY.sanity_spec()),
    shell:
        "python -m e2sad sanity-report --spec {params.spec:q} --sweeps {input.sweeps:q} "
        "--whitebox {input.whitebox:q} --transfer {input.transfer:q} --out-csv {output.csv:q} "
        "--out-html {output.html:q} --out-fig {output.pdf:q} {output.png:q} 2>&1 | tee {log:q}"


# ---- 5. the paper's claims on Table 3.1 and the training cost, PASS/FAIL
rule statements:
    input:
        table=STUDY.table_outputs(STATEMENTS_TABLE)[0],
        cost=f"{R}/tables/training_cost.csv",
    output:
        html=report(
            f"{R}/science/statements.html",
            caption="../../report/science_statements.rst",
            category="Science",
            labels={"check": "checked statements"},
        ),
        md=f"{R}/science/statements.md",
        csv=f"{R}/science/statements.csv",
    log:
        f"{R}/logs/science/statements.log",
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(STUDY.statements_spec()),
    shell:
        "python -m e2sad statements --table {input.table:q} --cost {input.cost:q} --spec {params.spec:q} "
        "--out-html {output.html:q} --out-md {output.md:q} --out-csv {output.csv:q} 2>&1 | tee {log:q}"
