"""The attack-class suite shares the gateway's fixtures (a test organisation, a sink, running gateways)."""

from __future__ import annotations

from tests.gateway.conftest import org, sink, start_gateway

__all__ = ["org", "sink", "start_gateway"]
