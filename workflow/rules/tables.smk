# Stage 6: tables (CSV, LaTeX booktabs, HTML), reproduced values beside the paper's.


rule table:
    input:
        table_in,
    output:
        csv=f"{R}/tables/{{table}}.csv",
        tex=f"{R}/tables/{{table}}.tex",
        html=report(
            f"{R}/tables/{{table}}.html",
            caption="../../report/table.rst",
            category="Tables",
            labels=lambda w: {"table": STUDY.artifact_name(w.table)},
        ),
    log:
        f"{R}/logs/table/{{table}}.log",
    wildcard_constraints:
        table=regex(STUDY.tables),
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=lambda w: spec_json(STUDY.table_spec(w.table)),
    shell:
        "python -m e2sad table --spec {params.spec:q} --rows {input:q} --out-csv {output.csv:q} "
        "--out-tex {output.tex:q} --out-html {output.html:q} 2>&1 | tee {log:q}"


rule cost_table:
    input:
        STUDY.trained_models(),
    output:
        csv=f"{R}/tables/training_cost.csv",
        tex=f"{R}/tables/training_cost.tex",
        html=report(
            f"{R}/tables/training_cost.html",
            caption="../../report/training_cost.rst",
            category="Tables",
            labels={"table": "training cost"},
        ),
    log:
        f"{R}/logs/table/training_cost.log",
    conda:
        "../../envs/e2sad.yaml"
    params:
        spec=spec_json(STUDY.cost_spec()),
    shell:
        "python -m e2sad cost-table --models {input:q} --spec {params.spec:q} --out-csv {output.csv:q} "
        "--out-tex {output.tex:q} --out-html {output.html:q} 2>&1 | tee {log:q}"
