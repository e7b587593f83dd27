# e2SAD reproduction: every table and figure of the paper from one config.
#   snakemake --cores 2 all --configfile config/reduced.yaml   (laptop, 2 CPU cores; see README)
#   snakemake --cores 8 all                                     (paper scale, GPU)
# See README.md.


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/attack.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/surface.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/science.smk"
include: "workflow/rules/frontier.smk"


rule all:
    default_target: True
    input:
        STUDY.all_targets(),


# Scientific validity (workflow/rules/science.smk; config sections ablation,
# robustness, sanity): snakemake --cores 2 science [--configfile ...]
rule ablation:
    input:
        STUDY.ablation_targets(),


rule robustness:
    input:
        STUDY.robustness_targets(),


rule sanity:
    input:
        STUDY.sanity_targets(),


rule science:
    input:
        STUDY.science_targets(),


# Beyond the paper (workflow/rules/frontier.smk; config section frontier):
# snakemake --cores 2 frontier [--configfile ...]
rule frontier:
    input:
        STUDY.frontier_targets(),
