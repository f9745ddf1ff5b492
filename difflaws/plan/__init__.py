"""Planning: law sets, compute-optimal predictions, shapes and per-device memory."""
