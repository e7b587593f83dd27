# Stage 1: the datasets, converted once to tensor files.


rule prepare_data:
    input:
        # the original files by content, not by time (Study.check_prepared)
        ancient(data_sources),
    output:
        L.path("data"),
    log:
        L.log("prepare_data"),
    conda:
        "../../envs/e2sad.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        src=lambda w: COMMANDS.data_source(w.dataset),
        args=lambda w: COMMANDS.prepare_args(w.dataset),
    shell:
        "python -m e2sad prepare-data --dataset {wildcards.dataset} --src {params.src:q} "
        "{params.args} --out {output:q} 2>&1 | tee {log:q}"
