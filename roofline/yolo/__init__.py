"""YOLOv5-format model yaml files: parse, build on any device, summarise.

Importing this package registers the ``yolo`` spec format with :mod:`roofline.spec`,
so ``load_spec("yolov5s.yaml")`` builds the detector with no YOLOv5 installation.
"""

from __future__ import annotations

from roofline.spec import register_format
from roofline.yolo.build import (
    BUILTIN_BLOCKS,
    Architecture,
    Row,
    YoloModel,
    ceil_to,
    parse_architecture,
)
from roofline.yolo.format import YoloFormat, build_model, parse_fuse, parse_imgsz

FORMAT = register_format(YoloFormat())

__all__ = [
    "BUILTIN_BLOCKS",
    "FORMAT",
    "Architecture",
    "Row",
    "YoloFormat",
    "YoloModel",
    "build_model",
    "ceil_to",
    "parse_architecture",
    "parse_fuse",
    "parse_imgsz",
]
