"""Run by test_concurrency in separate OS processes: open the store and import certificates one per transaction."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cryptography import x509

from mailseal.store import Directory, Store


def main(url: str, cert_dir: str, go: str) -> None:
    certs = [x509.load_pem_x509_certificate(p.read_bytes()) for p in sorted(Path(cert_dir).glob("*.pem"))]
    deadline = time.monotonic() + 30
    while not Path(go).exists():  # start together, so that the writers really overlap
        if time.monotonic() > deadline:
            raise SystemExit("never told to go")
        time.sleep(0.005)
    store = Store.open(url)
    directory = Directory(store)
    for cert in certs:
        directory.add(cert)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
