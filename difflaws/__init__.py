"""difflaws: scaling laws for discrete diffusion language models."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("difflaws")

__all__ = ["__version__", "hookimpl"]
