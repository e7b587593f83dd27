# Stage 2: one training job per (model, seed). Every hyperparameter is in
# params, so changing one re-runs exactly this model and what depends on it.
# The checkpoint lives outside the declared outputs, so a killed job resumes
# from it (Snakemake deletes incomplete outputs, never the checkpoint).


rule train:
    input:
        data=data_in,
    output:
        model=L.path("model"),
        log_csv=L.path("train_log"),
    log:
        L.log("train"),
    priority: lambda w: COST.train_priority(w.model)
    conda:
        "../../envs/e2sad.yaml"
    threads: COMPUTE["train_threads"]
    resources:
        mem_mb=6000,
        runtime=600,
        gpu_slots=GPU_SLOT,
    params:
        args=lambda w: COMMANDS.train_args(w.model),
        hyperparameters=lambda w: COMMANDS.hyperparameters(w.model),
        ckpt=lambda w: L.path("ckpt", model=w.model, seed=w.seed),
        ckpt_every=COMPUTE["ckpt_every"],
        progress_every=COMPUTE["progress_every"],
        log_every=COMPUTE["log_every"],
        snapshots=lambda w: COMMANDS.snapshot_args(w.model, w.seed),
    shell:
        "python -m e2sad train --name {wildcards.model} --data {input.data:q} {params.args} "
        "--seed {wildcards.seed} --threads {threads} --ckpt {params.ckpt:q} "
        "--ckpt-every {params.ckpt_every} --progress-every {params.progress_every} --log-every {params.log_every} "
        "--log-csv {output.log_csv:q} {params.snapshots} --out {output.model:q} 2>&1 | tee {log:q}"
