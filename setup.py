"""Package layout that pyproject.toml alone cannot express.

The device spec database lives in the top-level ``gpu_specs/`` folder (part of the
project's layout contract) and is installed as the package ``roofline.gpu_specs``.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["roofline", "roofline.*"]), "roofline.gpu_specs"],
    package_dir={"roofline.gpu_specs": "gpu_specs"},
)
