"""Multi-process training on torch.distributed: DDP or FSDP2, DCP checkpoints, torchrun launch.

The trainer talks to one :class:`~difflaws.distributed.strategy.Strategy`
(see :func:`~difflaws.distributed.strategy.strategy_for`); a single-process run
gets the trivial one, so the loop has no distributed branches of its own.
"""
