"""The ``mailseal`` executable: hands the command to the resident agent when the user enabled it, else runs it.

Only the standard library is imported before that choice, so that a command the agent runs costs one
interpreter start and a round trip (docs/cli.md, "The resident agent").
"""

from __future__ import annotations

import sys

from .words import command_word

#: One-shot commands the agent may run; a server (``serve``, ``ca ocsp``) and ``agent`` itself never go there.
VIA_AGENT = frozenset({"sign", "encrypt", "decrypt", "verify", "open", "inspect", "certs", "keys", "trust",
                       "policy", "status"})


def main() -> None:
    argv = sys.argv[1:]
    if command_word(argv) in VIA_AGENT:
        from .. import agentclient

        if agentclient.enabled():
            try:
                code = agentclient.run_command(argv)
            except agentclient.AgentUnavailable:
                pass  # no agent to be had: the command runs here, as without one
            else:
                raise SystemExit(code)
    from .main import main as run_here

    run_here()


if __name__ == "__main__":
    main()
