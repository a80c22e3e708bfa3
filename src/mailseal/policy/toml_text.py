"""The `[policy]` table written back as TOML (`mailseal policy export`, the console's rules text): strings,
booleans, integers, lists, tables and arrays of tables, the shapes the table holds (docs/policy.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are TOML's basic-string escapes for everything json.dumps writes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _table(path: str, table: Mapping[str, Any], out: list[str], inline_depth: int) -> None:
    plain = {k: v for k, v in table.items() if not (isinstance(v, Mapping) and inline_depth > 0)
             and not _is_table_array(v)}
    if path and (plain or not table):
        out.append(f"[{path}]")
    out.extend(f"{_key(str(k))} = {_value(v)}" for k, v in plain.items())
    if plain:
        out.append("")
    for k, v in table.items():
        here = f"{path}.{_key(str(k))}" if path else _key(str(k))
        if isinstance(v, Mapping) and inline_depth > 0:
            _table(here, v, out, inline_depth - 1)
        elif _is_table_array(v):
            for item in v:
                out.append(f"[[{here}]]")
                out.extend(f"{_key(str(ik))} = {_value(iv)}" for ik, iv in item.items())
                out.append("")


def dumps(table: Mapping[str, Any], path: str = "policy") -> str:
    """``table`` as TOML under ``[path]`` (tables two levels deep as sections: `[policy.domains."d"]`; deeper
    ones inline, as a rule's ``header = { ... }``)."""
    out: list[str] = []
    _table(_key(path) if path else "", table, out, 2)
    return "\n".join(out).rstrip("\n") + "\n"


def dumps_rules(rules: list[Mapping[str, Any]]) -> str:
    """The rules alone, as ``[[rules]]`` entries: what the console's rules text area shows."""
    return dumps({"rules": rules}, path="") if rules else ""


__all__ = ["dumps", "dumps_rules"]
