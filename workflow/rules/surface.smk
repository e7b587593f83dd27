# Stage 5: loss surfaces of section 3.4 (Figure 3.3 a/b).


rule surface:
    input:
        model=model_in,
        data=data_in,
    output:
        L.path("surface"),
    log:
        L.log("surface"),
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        attack=lambda w: COMMANDS.attack_args(w.attack),
        attack_hyperparameters=lambda w: COMMANDS.attack_hyperparameters(w.attack),
        net=lambda w: COMMANDS.net_args(w.model),
        n=lambda w: figure_of(w)["n"],
        t_max=lambda w: figure_of(w)["t_max"],
        points=lambda w: figure_of(w)["points"],
        clip=lambda w: "" if figure_of(w)["clip"] else "--no-clip",
        device=COMPUTE["device"],
    shell:
        "python -m e2sad surface --name {wildcards.model} --model {input.model:q} --data {input.data:q} "
        "{params.net} {params.attack} --n {params.n} "
        "--t-max {params.t_max} --points {params.points} {params.clip} --device {params.device} "
        "--seed {wildcards.seed} --threads {threads} --out {output:q} 2>&1 | tee {log:q}"


rule plot_surface:
    input:
        surface_in,
    output:
        pdf=L.path("figure", ext="pdf"),
        png=report(
            L.path("figure", ext="png"),
            caption="../../report/figure_3_3.rst",
            category="Figures",
            labels=lambda w: {"figure": f"{SPECS.artifact_name(w.figure)} {w.panel}"},
        ),
    log:
        L.log("plot_surface"),
    wildcard_constraints:
        figure=name_regex(STUDY.figures),
        panel="[a-z]",
    conda:
        "../../envs/e2sad.yaml"
    params:
        labels=lambda w: " ".join(q(x) for x in SPECS.surface_labels(w.figure)),
        title=lambda w: q(SPECS.surface_title(w.figure, w.panel)),
    shell:
        "python -m e2sad plot-surface --inputs {input:q} --labels {params.labels} --title {params.title} "
        "--out {output.pdf:q} {output.png:q} 2>&1 | tee {log:q}"
