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
include: "workflow/rules/released.smk"


rule all:
    default_target: True
    input:
        TARGETS.all_targets(),


# Scientific validity (workflow/rules/science.smk; config sections ablation,
# robustness, sanity): snakemake --cores 2 science [--configfile ...]
rule ablation:
    input:
        SCIENCE.ablation_targets(),


rule robustness:
    input:
        SCIENCE.robustness_targets(),


rule sanity:
    input:
        SCIENCE.sanity_targets(),


rule science:
    input:
        SCIENCE.science_targets(),


# Beyond the paper (workflow/rules/frontier.smk; config section frontier):
# snakemake --cores 2 frontier [--configfile ...]
rule frontier:
    input:
        FRONTIER.targets(),


# Released models (workflow/rules/released.smk; config section released, e.g.
# config/released.yaml): snakemake --cores 2 released --configfile ... config/released.yaml
rule released:
    input:
        RELEASED.targets(),
