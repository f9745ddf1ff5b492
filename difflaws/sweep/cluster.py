"""Run sweep members as cluster jobs through submitit (SLURM, or local processes for tests).

Every member is one job.  Inside it, ``MemberJob`` runs ``difflaws run``
directly, or under ``torchrun`` when ``nproc_per_node`` > 1; on several
nodes, rendezvous goes through the first node of the allocation (c10d).
The job is checkpointable: when SLURM preempts it or its time runs out,
submitit requeues it and ``difflaws run`` resumes from the run's last
checkpoint.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

from difflaws.errors import UserError
from difflaws.sweep.tasks import Outcome, state

RDZV_PORT = 29500


def import_submitit():
    try:
        import submitit
    except ImportError:
        raise UserError("executor kind 'submitit' needs the submitit package: "
                        "pip install 'difflaws[cluster]'") from None
    return submitit


class MemberJob:
    """The callable a submitit job runs: one member's ``difflaws run`` (maybe via torchrun)."""

    def __init__(self, task, nproc_per_node: int = 0, nodes: int = 1):
        self.task, self.nproc_per_node, self.nodes = task, nproc_per_node, nodes

    @property
    def distributed(self) -> bool:
        return self.nproc_per_node > 1 or self.nodes > 1

    def argv(self, env=None) -> list[str]:
        if not self.distributed:
            return self.task.argv()
        extra = []
        if env is not None and env.num_nodes > 1:
            extra = [f"--nnodes={env.num_nodes}", f"--node_rank={env.node}",
                     "--rdzv-backend=c10d", f"--rdzv-endpoint={env.hostnames[0]}:{RDZV_PORT}",
                     f"--rdzv-id={self.task.name}"]
        return self.task.torchrun_argv(max(1, self.nproc_per_node), extra)

    def __call__(self) -> int:
        import submitit

        env = submitit.JobEnvironment() if self.distributed else None
        command = self.argv(env)
        self.task.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.task.log, "ab") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(command)}` exited with {done.returncode}; "
                               f"see {self.task.log}")
        return done.returncode

    def checkpoint(self):
        # difflaws run resumes from its own checkpoint: requeue the very same call
        import submitit

        return submitit.helpers.DelayedSubmission(MemberJob(self.task, self.nproc_per_node,
                                                            self.nodes))


class SubmititExecutor:
    def __init__(self, config, folder=None):
        self.config = config
        self.folder = folder

    def describe(self, task) -> str:
        job = MemberJob(task, self.config.nproc_per_node, self.config.nodes)
        where = self.config.cluster or "auto-detected cluster"
        return f"[submitit, {where}] " + shlex.join(job.argv())

    def executor(self, folder):
        submitit = import_submitit()
        c = self.config
        try:
            ex = submitit.AutoExecutor(folder=str(folder), cluster=c.cluster or None)
        except ValueError as exc:
            raise UserError(f"executor.cluster: {exc}") from None
        gpus = c.gpus_per_node or (c.nproc_per_node if c.nproc_per_node > 1 else 0)
        params = {"timeout_min": c.timeout_min, "nodes": c.nodes, "tasks_per_node": 1,
                  "cpus_per_task": c.cpus_per_task, "name": c.job_name or "difflaws"}
        if gpus:
            params["gpus_per_node"] = gpus
        if c.mem_gb:
            params["mem_gb"] = c.mem_gb
        slurm = {"slurm_partition": c.partition, "slurm_account": c.account, "slurm_qos": c.qos,
                 "slurm_additional_parameters": dict(c.slurm_parameters) or None,
                 "slurm_setup": list(c.setup) or None,
                 "slurm_array_parallelism": c.max_parallel or None}
        params.update({k: v for k, v in slurm.items() if v})
        ex.update_parameters(**params)
        return ex

    def run(self, tasks, on_done=None) -> list[Outcome]:
        tasks = list(tasks)
        if not tasks:
            return []
        folder = self.folder or tasks[0].log.parent.parent / "submitit"
        ex = self.executor(folder)
        jobs = [(task, ex.submit(MemberJob(task, self.config.nproc_per_node,
                                                        self.config.nodes)),
                 time.perf_counter()) for task in tasks]
        for task, job, _ in jobs:
            print(f"difflaws sweep: submitted {task.name} as job {job.job_id}", file=sys.stderr)
        if not self.config.wait:
            return []
        outcomes = []
        for task, job, start in jobs:
            try:
                job.result()
                code = 0
            except Exception as exc:  # the job failed: its log says why
                code = 1
                print(f"difflaws sweep: job {job.job_id} ({task.name}) failed: "
                      f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}",
                      file=sys.stderr)
            outcome = Outcome(task.name, code, state(task.run_dir), task.log,
                              time.perf_counter() - start)
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
        return outcomes
