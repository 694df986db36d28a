"""Safe YAML loading shared by model specs and device spec files.

``yaml.safe_load`` builds plain data only (no ``!!python`` tags), but it keeps the
*last* of two equal keys in a mapping without a word: a spec with ``model:`` twice
would silently profile the second model. :func:`safe_load_unique` is ``safe_load``
that refuses such a file instead, with the line of the repeated key.
"""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice (a :class:`yaml.YAMLError`, with a mark)."""

    def located(self, path: object) -> str:
        """The one-line message for ``path``: ``spec.yaml:2: key 'model' appears twice;
        keep one``."""
        line = self.problem_mark.line + 1 if self.problem_mark else "?"
        return f"{path}:{line}: {self.problem}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises :class:`DuplicateKeyError` on a repeated key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges, it is not a key
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
            except TypeError:  # an unhashable key: SafeLoader's own error follows
                break
            if repeated:
                raise DuplicateKeyError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"key {key!r} appears twice; keep one",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def safe_load_unique(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing a mapping that repeats a key."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # SafeLoader subclass: plain data only
