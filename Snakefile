# e2SAD reproduction: every table and figure of the paper from one config.
#   snakemake --cores 2 all --configfile config/reduced.yaml   (laptop, ~30 min)
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


rule all:
    default_target: True
    input:
        all_targets(),
