# Stage 4: black-box transfer. Adversarial examples are crafted once per
# (substitute, seed, attack) and every target is evaluated on the saved file.


rule craft_transfer:
    input:
        model=model_in,
        data=data_in,
    output:
        L.path("crafted"),
    log:
        L.log("craft_transfer"),
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        attack=lambda w: COMMANDS.attack_args(w.attack),
        attack_hyperparameters=lambda w: COMMANDS.attack_hyperparameters(w.attack),
        common=lambda w: COMMANDS.eval_args(w.model),
    shell:
        "python -m e2sad craft --name {wildcards.model} --model {input.model:q} --data {input.data:q} "
        "--attack-name {wildcards.attack} {params.attack} {params.common} --seed {wildcards.seed} "
        "--threads {threads} --out {output:q} 2>&1 | tee {log:q}"


rule evaluate_transfer:
    input:
        model=model_in,
        adv=transfer_adv,
    output:
        L.path("transfer_eval"),
    log:
        L.log("evaluate_transfer"),
    wildcard_constraints:
        table=name_regex(STUDY.tables),
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["eval_threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        net=lambda w: COMMANDS.net_args(w.model),
        device=COMPUTE["device"],
    shell:
        "python -m e2sad evaluate-transfer --name {wildcards.model} --model {input.model:q} "
        "--adv {input.adv:q} {params.net} "
        "--device {params.device} --seed {wildcards.seed} --threads {threads} --out {output:q} "
        "2>&1 | tee {log:q}"
