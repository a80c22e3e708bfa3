"""Content the gateway itself produces (decrypted or unwrapped messages) made safe to send over SMTP.

What arrives in DATA is checked on the way in (smtpserver.py), but a decrypted message is new text that no
client ever sent through SMTP: its plaintext may hold bare LF or CR, which a next hop that takes a bare LF for a
line end could read as the end of DATA and a second message injected by our own trusted gateway (SMTP
smuggling, CVE-2023-51764 and kin). So every such text goes through ``normalise``: bare LF and bare CR become CRLF
(what RFC 5321 §2.3.8 allows a line end to be), and NUL bytes and lines over 998 octets, which no SMTP next hop
has to take (RFC 5321 §4.5.3.1.6, RFC 6152 §3), are reported so that the caller delivers the message as it came
instead. The relay applies the same line-end rule (streamio.Canonicalizer) to everything it sends, as a
last defence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from ..streamio import Canonicalizer, LineStats

CHUNK = 1 << 20


@dataclass(frozen=True)
class WireCheck:
    normalised: bool  # bare CR or LF was turned into CRLF
    problem: str | None  # why SMTP cannot carry the text (NUL bytes, an over-long line), or None

    @property
    def note(self) -> str | None:
        return "bare CR or LF line ends normalised to CRLF" if self.normalised else None


def normalise(source: BinaryIO, sink: BinaryIO) -> WireCheck:
    """Copy ``source`` (from its start) to ``sink`` with CRLF line ends only; say what was found."""
    canon = Canonicalizer()
    stats = LineStats()
    source.seek(0)
    while chunk := source.read(CHUNK):
        out = canon.feed(chunk)
        stats.feed(out)
        sink.write(out)
    tail = canon.close()
    stats.feed(tail)
    sink.write(tail)
    problems = [text for flag, text in ((stats.has_nul, "holds NUL bytes"),
                                        (stats.long_line, "has a line over 998 octets")) if flag]
    return WireCheck(canon.changed, " and ".join(problems) or None)


__all__ = ["WireCheck", "normalise"]
