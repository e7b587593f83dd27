# Stage 6: tables (CSV, LaTeX booktabs, HTML), reproduced values beside the paper's.


rule table:
    input:
        table_in,
    output:
        csv=L.path("table", ext="csv"),
        tex=L.path("table", ext="tex"),
        html=report(
            L.path("table", ext="html"),
            caption="../../report/table.rst",
            category="Tables",
            labels=lambda w: {"table": SPECS.artifact_name(w.table)},
        ),
    log:
        L.log("table"),
    wildcard_constraints:
        table=name_regex(STUDY.tables),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(SPECS.table_spec(w.table)),
    shell:
        "python -m e2sad table --spec {params.spec:q} --rows {input:q} --out-csv {output.csv:q} "
        "--out-tex {output.tex:q} --out-html {output.html:q} 2>&1 | tee {log:q}"


rule cost_table:
    input:
        TARGETS.trained_models(),
    output:
        csv=L.path("cost_table", ext="csv"),
        tex=L.path("cost_table", ext="tex"),
        html=report(
            L.path("cost_table", ext="html"),
            caption="../../report/training_cost.rst",
            category="Tables",
            labels={"table": "training cost"},
        ),
    log:
        L.log("cost_table"),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=spec_json(SPECS.cost_spec()),
    shell:
        "python -m e2sad cost-table --models {input:q} --spec {params.spec:q} --out-csv {output.csv:q} "
        "--out-tex {output.tex:q} --out-html {output.html:q} 2>&1 | tee {log:q}"
