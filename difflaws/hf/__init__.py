"""The GIDD Hugging Face format ↔ difflaws run directories.

The paper's released checkpoints (``dvruette/gidd-mask-3b``, ``gidd-unif-3b``,
``gidd-unif-10b``) are folders of ``config.json`` + safetensors with the
authors' parameter names.  Their architecture is difflaws's transformer
(docs/theory.md §3) up to conventions: separate q/k/v projections, a per-layer
weight scale, the residual and head scales as config keys, the noise as one
shift b of the uniform share σ(λ + b).  docs/hf-interop.md lists every detail
and how it is mapped or refused.

* :mod:`difflaws.hf.gidd_config`: the authors' config keys, read and checked;
* :mod:`difflaws.hf.tensors`: their tensor names ↔ difflaws's, both ways;
* :mod:`difflaws.hf.noise_share`: the noise ↔ the shift b;
* :mod:`difflaws.hf.exact`: config values that reproduce a float bit for bit;
* :mod:`difflaws.hf.to_spec` / :mod:`difflaws.hf.from_spec`: config ↔ spec;
* :mod:`difflaws.hf.hub`: a local folder or a hub repository;
* :mod:`difflaws.hf.weight_files`: reading and writing the safetensors files;
* :mod:`difflaws.hf.side_files`: tokenizer and code files carried along;
* :mod:`difflaws.hf.importer` / :mod:`difflaws.hf.exporter`: the two commands' work.
"""
