"""A plain SMTP relay that does nothing but forward: the gateway benchmark's baseline and the load tests' stand-in.

Each message is passed on unchanged to the next hop with aiosmtplib (one connection per message), and the client
gets ``250`` only once the next hop has accepted it (RFC 5321 §6.1: accepting means taking responsibility, and
this relay has no queue to take it with). Anything else (a 4xx, a dropped or refused connection, a timeout) is
answered with ``451`` so that the client keeps the message and retries; a 5xx from the next hop is passed back
as ``554`` so that a permanent refusal stays permanent. Run it as its own process::

    python -m tests.support.plain_relay --listen 127.0.0.1:2525 --next-hop 127.0.0.1:2526 [--processes N]

With ``--processes N`` it is N relay processes sharing the port as ``mailseal serve --processes N`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

HOSTNAME = "relay.load.test"  # without one aiosmtpd and aiosmtplib call socket.getfqdn() on every connection
log = logging.getLogger("plain_relay")


class RelayHandler:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            errors, _ = await aiosmtplib.send(
                envelope.original_content or b"", sender=envelope.mail_from or "", recipients=envelope.rcpt_tos,
                hostname=self.host, port=self.port, local_hostname=HOSTNAME, start_tls=False, timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            return _refused(min(codes) if codes else 451, "next hop refused the recipients")
        except aiosmtplib.SMTPResponseException as exc:
            return _refused(exc.code, f"next hop said {exc.code}")
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.info("next hop failed: %r", exc)
            return "451 4.4.2 next hop unavailable, try again later"
        if errors:
            # Some recipients were refused: answering 250 would lose them, 451 makes the client resend to all.
            return "451 4.4.2 next hop refused some recipients, try again later"
        return "250 2.0.0 OK: accepted by next hop"


def _refused(code: int, text: str) -> str:
    return f"554 5.0.0 {text}" if 500 <= code < 600 else f"451 4.4.2 {text}, try again later"


async def serve(listen: tuple[str, int], next_hop: tuple[str, int], timeout: float, reuse_port: bool = False,
                ready: Callable[[], None] | None = None) -> None:
    loop = asyncio.get_running_loop()
    handler = RelayHandler(*next_hop, timeout)
    # reuse_address: a relay SIGKILLed and started again must get its port back despite TIME_WAIT connections.
    server = await loop.create_server(lambda: SMTP(handler, hostname=HOSTNAME, timeout=60), *listen,
                                      reuse_address=True, reuse_port=reuse_port or None, backlog=512)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()
    if ready is None:
        print(f"READY {bound[0]}:{bound[1]}", flush=True)
    else:
        ready()
    async with server:
        await stop.wait()


def serve_processes(count: int, listen: tuple[str, int], next_hop: tuple[str, int], timeout: float) -> int:
    """``count`` relay processes on one port, shared as the gateway's front-ends share theirs (SO_REUSEPORT and the
    same supervisor, ``mailseal.cli.frontends``), so that a comparison at N processes is like for like."""
    from mailseal.cli import frontends

    frontends.check_supported()
    reserved = frontends.reserve(*listen)
    address = (listen[0], reserved.getsockname()[1])

    def start(_index: int, ready: Callable[[], None]) -> None:
        asyncio.run(serve(address, next_hop, timeout, reuse_port=True, ready=ready))

    try:
        supervisor = frontends.Supervisor(count, start, f"listening on {address[0]}:{address[1]}", name="READY")
        return supervisor.run()
    finally:
        reserved.close()


def split_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="host:port to accept mail on")
    parser.add_argument("--next-hop", required=True, help="host:port to forward every message to")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per SMTP command to the next hop")
    parser.add_argument("--processes", type=int, default=1,
                        help="relay processes sharing the port (SO_REUSEPORT, Linux); 1: this process alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.processes > 1:
        return serve_processes(args.processes, split_address(args.listen), split_address(args.next_hop),
                               args.timeout)
    asyncio.run(serve(split_address(args.listen), split_address(args.next_hop), args.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
