# Stage 1: the datasets, converted once to tensor files.


rule prepare_data:
    input:
        data_sources,
    output:
        f"{R}/data/{{dataset}}.pt",
    log:
        f"{R}/logs/prepare_data/{{dataset}}.log",
    conda:
        "../../envs/e2sad.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        src=lambda w: config["data"][w.dataset]["src"],
        download=lambda w: (
            "--download" if config["data"][w.dataset].get("download") else ""
        ),
    shell:
        "python -m e2sad prepare-data --dataset {wildcards.dataset} --src {params.src:q} "
        "{params.download} --out {output:q} 2>&1 | tee {log:q}"
