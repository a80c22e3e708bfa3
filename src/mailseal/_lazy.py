"""PEP 562 lazy re-exports for package __init__ modules: a package's public names load on first use."""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing is not imported at run time: the ``mailseal`` command starts with this module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def lazy_getattr(package: str, namespace: dict[str, Any], exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a submodule, relative to package) on demand."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__


__all__ = ["lazy_getattr"]
