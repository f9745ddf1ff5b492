"""Reading ``torch.distributed.checkpoint`` (DCP) checkpoints without unpickling anything a
run directory could smuggle in.

DCP keeps its index, ``.metadata``, as a pickle, and unpickles the state dict's non-tensor
entries (the optimizer's hyper-parameters) with ``weights_only=False``: from a run directory
someone handed over, either runs whatever the file asks for.  The ways out were our own
sharded safetensors format with a JSON index, a JSON/safetensors storage layer under DCP,
or restricting the unpickling.  We restrict, because DCP then keeps doing what is hard to
get right (resharding FSDP2 shards and flattened optimizer state to any world size, and
saving them) and the attack surface is two small, fixed points:

* ``.metadata`` is read by :class:`MetadataUnpickler`, which builds only the classes DCP's
  metadata is made of (its dataclasses, ``torch.Size``, dtypes, layouts, paths) and refuses
  any other global, so it can construct data but never call a function of its choosing;
* non-tensor entries go through ``torch.load(weights_only=True)`` (:class:`SafePlanner`);
  tensor entries DCP already loads that way.

The manifest's checksums (:func:`difflaws.checkpoint.io.verify`) are checked first, but an
attacker can forge those; they catch damage, the two points above stop code execution.
"""

from __future__ import annotations

import io
import os
import pathlib
import pickle

import torch
import torch.distributed.checkpoint.metadata as dcp_metadata
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.filesystem import _StorageInfo

from difflaws.checkpoint.io import DamagedCheckpoint

METADATA = ".metadata"

_METADATA_CLASSES = ("BytesStorageMetadata", "ChunkStorageMetadata", "Metadata",
                     "MetadataIndex", "StorageMeta", "TensorProperties", "TensorStorageMetadata",
                     "_MEM_FORMAT_ENCODING")
ALLOWED = {
    **{(dcp_metadata.__name__, name): getattr(dcp_metadata, name) for name in _METADATA_CLASSES},
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"): _StorageInfo,
    ("torch", "Size"): torch.Size,
    # a torch.layout pickles as this look-up by name, a dtype as the torch attribute
    ("torch.serialization", "_get_layout"): torch.serialization._get_layout,
    **{("torch", name): value for name, value in vars(torch).items()
       if isinstance(value, torch.dtype)},
    ("pathlib", "PosixPath"): pathlib.PosixPath,  # the directory it was saved to
}


class MetadataUnpickler(pickle.Unpickler):
    """Every callable a pickle can reach goes through ``find_class``: admit only ``ALLOWED``."""

    def find_class(self, module, name):
        try:
            return ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which DCP metadata "
                                         "never holds") from None


def read_metadata(directory) -> dcp_metadata.Metadata:
    path = pathlib.Path(directory) / METADATA
    try:
        with open(path, "rb") as f:
            metadata = MetadataUnpickler(f).load()
    except Exception as exc:  # refused, truncated or missing: not a usable checkpoint
        raise DamagedCheckpoint(f"{path} is refused ({exc})") from None
    if not isinstance(metadata, dcp_metadata.Metadata):
        raise DamagedCheckpoint(f"{path} holds a {type(metadata).__name__}, not DCP metadata")
    # DCP opens each data file by the name given here: keep it to the files verified beside it
    infos = metadata.storage_data.values() if isinstance(metadata.storage_data, dict) else [None]
    if not all(isinstance(i, _StorageInfo) and plain_name(i.relative_path) for i in infos):
        raise DamagedCheckpoint(f"{path} points at data outside its directory")
    return metadata


def plain_name(name) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and os.path.basename(name) == name


class SafeReader(FileSystemReader):
    """DCP's file reader with ``.metadata`` read by :func:`read_metadata`."""

    # no **kwargs: DCP would then retry a rank's own ``__<rank>.metadata``, which we never write
    def read_metadata(self) -> dcp_metadata.Metadata:
        metadata = read_metadata(self.path)
        metadata.storage_meta = metadata.storage_meta or dcp_metadata.StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class SafePlanner(DefaultLoadPlanner):
    """DCP's planner with non-tensor entries unpickled by ``torch.load(weights_only=True)``."""

    def load_bytes(self, read_item, value):
        try:
            vetted = torch.load(value, weights_only=True)
        except pickle.UnpicklingError:  # torch's message is a page about trusting the source
            raise DamagedCheckpoint(f"the DCP entry {read_item.dest_index.fqn} holds more than "
                                    "plain data; refused") from None
        # the parent unpickles without restriction: hand it our own pickle of the vetted value
        buf = io.BytesIO()
        torch.save(vetted, buf)
        buf.seek(0)
        super().load_bytes(read_item, buf)
