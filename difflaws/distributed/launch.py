"""``difflaws run SPEC --nproc N``: re-launch the same command under torchrun on this node.

Multi-node jobs call torchrun themselves, one launcher per node, e.g.::

    torchrun --nnodes 4 --nproc_per_node 8 --rdzv-backend c10d \\
        --rdzv-endpoint HEAD_NODE:29500 --rdzv-id JOB_ID -m difflaws run SPEC

(on SLURM: ``srun`` one task per node, HEAD_NODE the first host of
``$SLURM_JOB_NODELIST``, JOB_ID ``$SLURM_JOB_ID``).
"""

from __future__ import annotations

import os

from difflaws.errors import UserError


def under_launcher() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def torchrun_argv(nproc: int, difflaws_args: list[str]) -> list[str]:
    """torchrun's own arguments for ``nproc`` processes on this node running ``difflaws ARGS``."""
    return ["--standalone", f"--nproc_per_node={nproc}", "-m", "difflaws", *difflaws_args]


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` minus ``--nproc N`` / ``--nproc=N`` (the children must not launch again)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run ``difflaws ARGV`` (without --nproc) in ``nproc`` processes; their exit status."""
    if nproc < 1:
        raise UserError(f"--nproc {nproc}: give a number of processes, 1 or more")
    if under_launcher():
        raise UserError("--nproc inside torchrun would launch processes twice; drop --nproc "
                        "(torchrun's --nproc_per_node sets the count)")
    from torch.distributed import run as torchrun

    try:
        torchrun.main(torchrun_argv(nproc, without_nproc(argv)))
    except Exception as exc:  # ChildFailedError: each rank already printed its own error
        codes = [f.exitcode for f in getattr(exc, "failures", {}).values() if f.exitcode > 0]
        return codes[0] if codes else 1  # 2 for bad input, as in one process
    return 0
