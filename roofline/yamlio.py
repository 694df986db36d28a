"""Safe YAML loading shared by model specs and device spec files.

``yaml.safe_load`` builds plain data only (no ``!!python`` tags), but it keeps the
*last* of two equal keys in a mapping without a word: a spec with ``model:`` twice
would silently profile the second model. :func:`safe_load_unique` is ``safe_load``
that refuses such a file instead, with the line of the repeated key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from roofline.errors import first_line

#: the largest YAML file read (specs are a few KiB): bounds the read of a device such
#: as /dev/zero, which would otherwise go on until memory runs out
MAX_YAML_BYTES = 16 * 2**20


class TooLargeError(ValueError):
    """A YAML file larger than :data:`MAX_YAML_BYTES` (or endless: a device)."""


def read_yaml_text(path: str | Path) -> str:
    """The text of a YAML file, read as UTF-8 and at most :data:`MAX_YAML_BYTES`;
    :class:`TooLargeError` past that (``OSError`` and ``UnicodeDecodeError`` as reading
    raises them). A pipe (``<(...)``) is read like a file."""
    with open(path, "rb") as f:
        raw = f.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise TooLargeError(f"larger than {MAX_YAML_BYTES // 2**20} MiB")
    return raw.decode("utf-8")


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice (a :class:`yaml.YAMLError`, with a mark)."""

    def located(self, path: object) -> str:
        """The one-line message for ``path``: ``spec.yaml:2: key 'model' appears twice;
        keep one``."""
        line = self.problem_mark.line + 1 if self.problem_mark else "?"
        return f"{path}:{line}: {self.problem}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises :class:`DuplicateKeyError` on a repeated key, and
    remembers where the node being built starts (:attr:`mark`) for an error that the
    safe constructors raise without one (``!!float xyz``: a ValueError)."""

    mark: yaml.Mark | None = None

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self.mark = node.start_mark
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.mark = node.start_mark
        if not isinstance(node, yaml.MappingNode):  # `!!set [1]`: SafeLoader's own error
            return super().construct_mapping(node, deep=deep)
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


def error_message(exc: yaml.YAMLError, path: object, what: str = "spec files") -> str:
    """The one-line message for a YAML error in ``path``: a repeated key, a tag the
    safe loader refuses (``!!python/object``), any other construction problem (an
    unhashable key), or a syntax error, each with its line (and column). ``what``
    names the kind of file in the advice to drop a tag."""
    if isinstance(exc, DuplicateKeyError):
        return exc.located(path)
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or exc).strip().splitlines()[0]
    if isinstance(exc, yaml.constructor.ConstructorError):
        line = mark.line + 1 if mark else "?"
        if "could not determine a constructor for the tag" in problem:
            return (
                f"{path}:{line}: unsafe or unknown YAML tag ({problem}); {what} are plain "
                "data: remove the tag"
            )
        if "unhashable" in problem:
            return f"{path}:{line}: {problem}; a key must be plain text or a number"
        return f"{path}:{line}: {problem}; write the value as plain YAML (or fix its !!tag)"
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    return f"{where}: YAML syntax error: {problem}"


def safe_load_unique(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing a mapping that repeats a key. A value that a
    standard tag cannot build (``!!float xyz``, ``!!timestamp 2020-13``), which the safe
    constructors report as a ValueError or TypeError, is a
    :class:`yaml.constructor.ConstructorError` at its line, as every other problem is;
    nesting too deep for Python's recursion limit a :class:`yaml.MarkedYAMLError`."""
    loader = _UniqueKeyLoader(text)  # SafeLoader subclass: plain data only
    try:
        return loader.get_single_data()
    except RecursionError:  # '[[[[...' some thousand deep: the composer recurses
        raise yaml.MarkedYAMLError(
            problem="nested too deeply to read; a spec's lists and mappings are a few levels deep",
            problem_mark=loader.get_mark(),
        ) from None
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot build the value ({first_line(exc)})", loader.mark
        ) from None
    finally:
        loader.dispose()
