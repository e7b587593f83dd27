"""e2sad: the compute engine of the e2SAD reproduction pipeline.

Everything the paper "Efficient Two-Step Adversarial Defense" computes is a
plain function or small class here: data loading, the Table A.1/A.2 models,
the attacks (:mod:`e2sad.attacks`), the defenses as training losses
(:mod:`e2sad.defenses`), training, evaluation, black-box transfer and loss
surfaces.  The command line (``python -m e2sad --help``) is what the Snakemake
rules call; nothing in this package ever reads a Snakemake object.
"""

__version__ = "0.1.0"
