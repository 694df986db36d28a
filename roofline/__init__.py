"""roofline: where a PyTorch model stands against the hardware.

Python API (the CLI is a thin layer over these):

* :func:`profile` counts a model's per-layer parameters, FLOPs and bytes.
* :func:`load_spec` reads a ``model.yaml`` (import-path or YOLO format).
"""

from __future__ import annotations

__version__ = "0.1.0"

from roofline.counting import ModelProfile, profile, profile_spec
from roofline.spec import InputSpec, ModelSpec, load_spec

__all__ = [
    "InputSpec",
    "ModelProfile",
    "ModelSpec",
    "__version__",
    "load_spec",
    "profile",
    "profile_spec",
]
