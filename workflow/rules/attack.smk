# Stage 3: white-box evaluation, one job per (model, seed, attack). When a transfer table crafts
# the same attack on the same model (a Table 3.2 substitute), the job reads those examples.


rule evaluate:
    input:
        model=model_in,
        data=data_in,
        adv=crafted_in,
    output:
        L.path("eval"),
    log:
        L.log("evaluate"),
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=120,
        gpu_slots=GPU_SLOT,
    params:
        attack=lambda w: COMMANDS.attack_args(w.attack),
        attack_hyperparameters=lambda w: COMMANDS.attack_hyperparameters(w.attack),
        common=lambda w: COMMANDS.eval_args(w.model),
        adv=lambda w, input: f"--adv {q(input.adv)}" if input.adv else "",
    shell:
        "python -m e2sad evaluate --name {wildcards.model} --model {input.model:q} --data {input.data:q} "
        "--attack-name {wildcards.attack} {params.attack} {params.common} {params.adv} --seed {wildcards.seed} "
        "--threads {threads} --out {output:q} 2>&1 | tee {log:q}"
