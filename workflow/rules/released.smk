# Released models (snakemake released; config section released): another author's released file,
# supplied by the user, converted into this engine's model file, evaluated under released.attacks
# on released.n_test test images like a trained model, and set beside its published numbers.
# The plan is e2sad/plan/released.py; the conversion e2sad/released.py; the table
# e2sad/science/released.py. A released model whose file is absent is left out with one note.


rule convert_released:
    input:
        pth=released_file,
    output:
        L.path("released_model"),
    log:
        L.log("convert_released"),
    wildcard_constraints:
        released=name_regex(RELEASED.declared()),
    conda:
        "../../envs/e2sad.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        release=lambda w: RELEASED.release(w.released),
    shell:
        "python -m e2sad convert-released --release {params.release} --pth {input.pth:q} "
        "--out {output:q} 2>&1 | tee {log:q}"


rule released_evaluate:
    input:
        model=L.path("released_model"),
        data=released_data,
    output:
        L.path("released_eval"),
    log:
        L.log("released_evaluate"),
    wildcard_constraints:
        released=name_regex(RELEASED.declared()),
        attack=name_regex(STUDY.science_attacks),
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=240,
        gpu_slots=GPU_SLOT,
    params:
        attack=lambda w: COMMANDS.attack_args(w.attack),
        attack_hyperparameters=lambda w: COMMANDS.attack_hyperparameters(w.attack),
        common=lambda w: COMMANDS.released_eval_args(w.released),
    shell:
        "python -m e2sad evaluate --name {wildcards.released} --model {input.model:q} --data {input.data:q} "
        "--attack-name {wildcards.attack} {params.attack} {params.common} --seed 0 "
        "--threads {threads} --out {output:q} 2>&1 | tee {log:q}"


rule released_table:
    input:
        rows=RELEASED.inputs(),
    output:
        csv=L.path("released_table", ext="csv"),
        tex=L.path("released_table", ext="tex"),
        html=report(
            L.path("released_table", ext="html"),
            caption="../../report/released.rst",
            category="Released models",
            labels={"artifact": "released models under this engine (table)"},
        ),
    log:
        L.log("released_table"),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(RELEASED.spec()),
    shell:
        "python -m e2sad released-table --spec {params.spec:q} --rows {input.rows:q} "
        "--out-csv {output.csv:q} --out-tex {output.tex:q} --out-html {output.html:q} 2>&1 | tee {log:q}"
