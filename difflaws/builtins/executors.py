"""Built-in sweep executors: local (this machine) and submitit (SLURM)."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, in_, optional

from difflaws import hookimpl

CLUSTERS = ("slurm", "local", "debug")


@attrs.frozen(kw_only=True)
class LocalExecutorConfig:
    """Runs members on this machine as `difflaws run` processes, `jobs` at a time."""

    jobs: int = attrs.field(default=1, validator=gt(0))
    threads_per_job: int = attrs.field(default=0, validator=ge(0))  # 0: cores ÷ jobs

    def build(self, **context):
        from difflaws.sweep.local import LocalExecutor

        return LocalExecutor(self.jobs, self.threads_per_job)


@attrs.frozen(kw_only=True)
class SubmititExecutorConfig:
    """Sends each member to SLURM through submitit, optionally as a multi-GPU torchrun job."""

    cluster: str | None = attrs.field(default=None, validator=optional(in_(CLUSTERS)))  # None: auto
    partition: str = ""
    account: str = ""
    qos: str = ""
    job_name: str = ""
    timeout_min: int = attrs.field(default=24 * 60, validator=gt(0))
    nodes: int = attrs.field(default=1, validator=gt(0))
    gpus_per_node: int = attrs.field(default=0, validator=ge(0))  # 0: nproc_per_node
    nproc_per_node: int = attrs.field(default=0, validator=ge(0))  # > 1: launch with torchrun
    cpus_per_task: int = attrs.field(default=8, validator=gt(0))
    mem_gb: int = attrs.field(default=0, validator=ge(0))  # 0: the partition's default
    max_parallel: int = attrs.field(default=0, validator=ge(0))  # 0: no limit
    setup: list[str] = attrs.Factory(list)  # shell lines run before each job (module load ...)
    slurm_parameters: dict[str, str] = attrs.Factory(dict)  # extra #SBATCH options
    wait: bool = True  # block until every job ends (False: submit and return)

    def __attrs_post_init__(self):
        from difflaws.spec.errors import FieldError

        if self.nodes > 1 and self.nproc_per_node < 1:
            raise FieldError("nproc_per_node", "multi-node jobs run through torchrun; "
                                               "set nproc_per_node (GPUs per node)")

    def build(self, folder=None, **context):
        from difflaws.sweep.cluster import SubmititExecutor

        return SubmititExecutor(self, folder)


@hookimpl
def difflaws_register_kinds(register):
    register("executor", "local", LocalExecutorConfig)
    register("executor", "submitit", SubmititExecutorConfig)
