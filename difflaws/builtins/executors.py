"""Built-in sweep executors: local (this machine) and submitit (SLURM)."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, in_, optional

from difflaws import hookimpl
from difflaws.interfaces import ExecutorConfig, key

CLUSTERS = ("slurm", "local", "debug")


@attrs.frozen(kw_only=True)
class LocalExecutorConfig(ExecutorConfig):
    """Runs members on this machine as `difflaws run` processes, `jobs` at a time."""

    jobs: int = key(1, validator=gt(0), doc="members run at the same time")
    threads_per_job: int = key(0, validator=ge(0),
                               doc="CPU threads per member (OMP_NUM_THREADS); 0: cores ÷ jobs")

    def build(self, **context):
        from difflaws.sweep.local import LocalExecutor

        return LocalExecutor(self.jobs, self.threads_per_job)


@attrs.frozen(kw_only=True)
class SubmititExecutorConfig(ExecutorConfig):
    """Sends each member to SLURM through submitit, optionally as a multi-GPU torchrun job."""

    cluster: str | None = key(None, validator=optional(in_(CLUSTERS)),
                              doc="submitit's cluster type; unset: detect it (SLURM when present)")
    partition: str = key("", doc='SLURM partition (--partition); "": the cluster\'s default')
    account: str = key("", doc='SLURM account to charge (--account); "": your default')
    qos: str = key("", doc='SLURM quality of service (--qos); "": none')
    job_name: str = key("", doc='SLURM job name; "": "difflaws"')
    timeout_min: int = key(24 * 60, validator=gt(0), doc="time limit of each job, in minutes")
    nodes: int = key(1, validator=gt(0), doc="nodes per member (more than 1 needs nproc_per_node)")
    gpus_per_node: int = key(0, validator=ge(0), doc="GPUs requested per node; 0: nproc_per_node")
    nproc_per_node: int = key(0, validator=ge(0),
                              doc="processes per node; above 1 the member runs under torchrun")
    cpus_per_task: int = key(8, validator=gt(0), doc="CPU cores requested per job")
    mem_gb: int = key(0, validator=ge(0),
                      doc="memory requested per node in GB; 0: the partition's default")
    max_parallel: int = key(0, validator=ge(0),
                            doc="jobs of the array running at once; 0: no limit")
    setup: list[str] = key(factory=list, doc="shell lines run before each job (module load ...)")
    slurm_parameters: dict[str, str] = key(factory=dict, doc="extra #SBATCH options, name → value")
    wait: bool = key(True, doc="block until every job ends; false: submit and return")

    def __attrs_post_init__(self):
        from difflaws.errors import FieldError

        if self.nodes > 1 and self.nproc_per_node < 1:
            raise FieldError("nproc_per_node", "multi-node jobs run through torchrun; "
                                               "set nproc_per_node (GPUs per node)")

    def build(self, folder=None, **context):
        from difflaws.sweep.cluster import SubmititExecutor

        return SubmititExecutor(self, folder)


@hookimpl
def difflaws_register_kinds(register):
    register("executor", "local", LocalExecutorConfig, default=True)
    register("executor", "submitit", SubmititExecutorConfig)
