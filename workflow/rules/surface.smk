# Stage 5: loss surfaces of section 3.4 (Figure 3.3 a/b).


rule surface:
    input:
        model=f"{R}/models/{{model}}/seed{{seed}}/model.pt",
        data=data_file,
    output:
        f"{R}/surfaces/{{figure}}/{{model}}/seed{{seed}}/{{attack}}.npz",
    log:
        f"{R}/logs/surface/{{figure}}/{{model}}/seed{{seed}}/{{attack}}.log",
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        attack=lambda w: attack_args(w.attack),
        dataset=lambda w: dataset_of(w.model),
        n=lambda w: figure_of(w)["n"],
        t_max=lambda w: figure_of(w)["t_max"],
        points=lambda w: figure_of(w)["points"],
        clip=lambda w: "" if figure_of(w)["clip"] else "--no-clip",
        norm=config["svhn_normalization"],
        device=COMPUTE["device"],
    shell:
        "python -m e2sad surface --name {wildcards.model} --model {input.model:q} --data {input.data:q} "
        "--dataset {params.dataset} --svhn-normalization {params.norm} {params.attack} --n {params.n} "
        "--t-max {params.t_max} --points {params.points} {params.clip} --device {params.device} "
        "--seed {wildcards.seed} --threads {threads} --out {output:q} 2>&1 | tee {log:q}"


rule plot_surface:
    input:
        surface_inputs,
    output:
        pdf=report(
            f"{R}/figures/{{figure}}{{panel}}.pdf",
            caption="../../report/figure_3_3.rst",
            category="Figures",
        ),
        png=report(
            f"{R}/figures/{{figure}}{{panel}}.png",
            caption="../../report/figure_3_3.rst",
            category="Figures",
        ),
    log:
        f"{R}/logs/plot_surface/{{figure}}{{panel}}.log",
    wildcard_constraints:
        figure="|".join(re.escape(f) for f in config["figures"]),
        panel="[a-z]",
    conda:
        "../../envs/e2sad.yaml"
    params:
        labels=lambda w: " ".join(
            q(f"{MODELS[m]['column']} ({MODELS[m]['label']})")
            for m in figure_of(w)["models"]
        ),
        title=lambda w: q(
            f"{figure_of(w).get('title', w.figure)} ({w.panel}): {ATTACKS[figure_of(w)['panels'][w.panel]]['label']}"
            f" directions; {scale_note(figure_of(w)['dataset'])}"
        ),
    shell:
        "python -m e2sad plot-surface --inputs {input:q} --labels {params.labels} --title {params.title} "
        "--out {output.pdf:q} {output.png:q} 2>&1 | tee {log:q}"
