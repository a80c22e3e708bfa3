"""docs/gateway.md stays true: its TOML examples pass the gateway's checks, its key table names exactly the
settings GatewaySettings reads, and the defaults it states are the code's."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mailseal.config import data_dir
from mailseal.errors import ConfigurationError
from mailseal.gateway.parts import check_settings
from mailseal.gateway.settings import AuthSettings, DnsSettings, GatewaySettings, OutboundTls, TlsSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
NESTED = {"tls": TlsSettings, "auth": AuthSettings, "outbound_tls": OutboundTls, "dns": DnsSettings}
#: GatewaySettings fields read from other tables than [gateway] (each documented with its own table).
OTHER_TABLES = {"limits"}  # [limits]: docs/limits.md
#: GatewaySettings fields that are no key of their own (standalone: next_hop = "mx").
DERIVED = {"standalone"}
HOP = "127.0.0.1:10026"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _toml_blocks() -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```", _text(), flags=re.MULTILINE | re.DOTALL)


def _key_table() -> dict[str, list[str]]:
    """The rows of the `[gateway]` key table: key -> its cells."""
    section = _text().split("### `[gateway]` keys", 1)[1]
    rows: dict[str, list[str]] = {}
    started = False
    for line in section.splitlines():
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            m = re.fullmatch(r"`([a-z0-9_.]+)`", cells[0])
            if m:
                rows[m.group(1)] = cells
        elif started:
            break
    return rows


def _code_keys() -> set[str]:
    """Every key the [gateway] table accepts, from the dataclasses that hold them."""
    keys = set()
    for f in dataclasses.fields(GatewaySettings):
        if f.name in OTHER_TABLES or f.name in DERIVED:
            continue
        if f.name in NESTED:
            keys |= {f"{f.name}.{g.name}" for g in dataclasses.fields(NESTED[f.name])}
        else:
            keys.add(f.name)
    return keys


def _gateway_table(key: str, value: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"next_hop": HOP}
    if "." in key:
        outer, inner = key.split(".", 1)
        table[outer] = {inner: value}
    else:
        table[key] = value
    return table


def _attribute(settings: GatewaySettings, key: str) -> Any:
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _with_existing_tls_files(settings: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The certificate and key files named in [gateway.tls] must exist: point them at empty files."""
    tls = settings.get("gateway", {}).get("tls")
    if isinstance(tls, dict):
        for name in ("certificate", "key"):
            if name in tls:
                path = tmp_path / Path(tls[name]).name
                path.write_text("")
                tls[name] = str(path)
    return settings


@pytest.mark.parametrize("index", range(len(_toml_blocks())))
def test_toml_example_is_valid(index: int, tmp_path: Path) -> None:
    settings = tomllib.loads(_toml_blocks()[index])
    if "gateway" in settings:
        settings["gateway"].setdefault("next_hop", HOP)
        gateway, policy = check_settings(_with_existing_tls_files(settings, tmp_path))
        assert (gateway.next_hop is not None or gateway.standalone) and policy is not None


def test_doc_has_gateway_examples() -> None:
    assert any("[gateway]" in block for block in _toml_blocks())


def test_key_table_names_exactly_the_settings() -> None:
    documented = set(_key_table())
    assert documented, "the [gateway] key table was not found"
    code = _code_keys()
    assert documented - code == set(), "documented but not a setting"
    assert code - documented == set(), "a setting missing from docs/gateway.md"


@pytest.mark.parametrize("key", sorted(_key_table()))
def test_documented_key_is_accepted(key: str) -> None:
    """from_settings knows the key (its `known` sets): any complaint is about the value, never the name."""
    for value in ("?", 1, True, ["x"]):
        try:
            GatewaySettings.from_settings({"gateway": _gateway_table(key, value)})
        except ConfigurationError as exc:
            assert "unknown setting" not in exc.message, exc.message
        except TypeError:
            pass  # a path built from a non-string: still a known key


def _literal_defaults() -> dict[str, str]:
    """Rows whose default cell is one literal: a TOML value, or ``DATA/NAME`` (a path in the data directory)."""
    out = {}
    for key, cells in _key_table().items():
        m = re.fullmatch(r"`([^`]+)`", cells[2])
        if m is not None:
            out[key] = m.group(1)
    return out


@pytest.mark.parametrize("key", sorted(_literal_defaults()))
def test_documented_default_is_the_code_default(key: str) -> None:
    literal = _literal_defaults()[key]
    if literal.startswith("DATA/"):
        assert _attribute(GatewaySettings(), key) == data_dir() / literal.removeprefix("DATA/")
        return
    value = tomllib.loads(f"v = {literal}")["v"]
    parsed = GatewaySettings.from_settings({"gateway": _gateway_table(key, value)})
    assert _attribute(parsed, key) == _attribute(GatewaySettings(), key)


def test_most_defaults_are_checked() -> None:
    # Not literals: defaults computed at run time (node_name: the host name) or described in words
    # (outbound_tls.mta_sts_nameserver and mta_sts_ca_file, dns.resolver: the system's resolver and anchors;
    # local_next_hop: unset).
    assert len(_literal_defaults()) >= len(_key_table()) - 13


def test_complete_example_names_every_key() -> None:
    named: set[str] = set()
    for block in _toml_blocks():
        gateway = tomllib.loads(block).get("gateway", {})
        for key, value in gateway.items():
            if key in NESTED and isinstance(value, dict):
                named |= {f"{key}.{inner}" for inner in value}
            else:
                named.add(key)
    assert _code_keys() - named == set()
