"""docs/deploy.md shows what the Postfix fixture writes, and its settings examples pass the gateway's parser."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from mailseal.gateway.settings import GatewaySettings
from tests.support.postfix import FAST_RETRY_MAIN_CF, PostfixInstance, filter_main_cf, filter_master_cf

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.S)
#: The ports docs/deploy.md shows for the test instance (the fixture picks free ones at run time).
DOC_PUBLIC_PORT = 2525
DOC_REINJECT_PORT = 10026
DOC_FILTER = ("127.0.0.1", 10025)
DOC_SINK = ("127.0.0.1", 2526)
DOC_ROOT = "/tmp/mailseal-pf-XXXXXXXX"


@pytest.fixture(scope="module")
def doc() -> str:
    return DEPLOY.read_text()


def _block(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def test_doc_shows_the_filter_main_cf_lines(doc: str) -> None:
    assert _block(filter_main_cf(*DOC_FILTER)) in doc


def test_doc_shows_the_filter_master_cf_lines(doc: str) -> None:
    assert _block(filter_master_cf("127.0.0.1", DOC_REINJECT_PORT)) in doc


def test_doc_shows_the_test_instance_config(doc: str) -> None:
    instance = PostfixInstance(filter_address=DOC_FILTER, sink_address=DOC_SINK, public_port=DOC_PUBLIC_PORT,
                               reinject_port=DOC_REINJECT_PORT, fast_retries=False)
    try:
        main_cf = [line.replace(str(instance.root), DOC_ROOT) for line in instance.main_cf_lines()]
        master_cf = instance.master_cf_lines()
    finally:
        instance.cleanup()
    assert _block(main_cf) in doc
    assert _block(list(FAST_RETRY_MAIN_CF)) in doc
    # master.cf: the public listener and the internal services around the filter services checked above.
    filter_services = filter_master_cf("127.0.0.1", DOC_REINJECT_PORT)
    start = master_cf.index(filter_services[0])
    assert _block(master_cf[:start]) in doc
    assert _block(master_cf[start + len(filter_services):]) in doc


def test_doc_settings_examples_are_valid_gateway_settings(doc: str, tmp_path: Path) -> None:
    blocks = [tomllib.loads(text) for text in TOML_BLOCK.findall(doc)]
    assert len(blocks) == 3
    for settings in blocks:
        tls = settings["gateway"].get("tls")
        if tls:
            # The parser checks that the files exist: stand in for the example's paths.
            for name in ("certificate", "key"):
                stand_in = tmp_path / Path(tls[name]).name
                stand_in.write_text("placeholder\n")
                tls[name] = str(stand_in)
        parsed = GatewaySettings.from_settings(settings)
        assert (parsed.next_hop is not None or parsed.standalone) and parsed.accepted_domains
    mode_a, mode_b, mx = (GatewaySettings.from_settings({"gateway": {k: v for k, v in b["gateway"].items()
                                                                    if k != "tls"}})
                          for b in blocks)
    assert mx.standalone and mx.dns.dane and mx.outbound_tls.mta_sts  # (b) without a next hop
    assert mode_a.listen == DOC_FILTER and mode_a.next_hop == ("127.0.0.1", DOC_REINJECT_PORT)
    assert mode_b.outbound_tls.mode == "opportunistic"
