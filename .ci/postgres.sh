#!/usr/bin/env bash
# Make PostgreSQL available to the store tests. No system service is started: the tests' fixture
# (tests/support/postgres.py) runs initdb + pg_ctl in a temporary directory on 127.0.0.1 and a free port,
# as the `postgres` user when run as root. This script only checks that what the fixture needs is there.
# CI: add `postgresql` to the apt-get line in .ci/run (it provides /usr/lib/postgresql/*/bin and the postgres user).
set -euo pipefail
if [ -n "${MAILSEAL_TEST_PG_URL:-}" ]; then
    echo "postgres.sh: using MAILSEAL_TEST_PG_URL"
    exit 0
fi
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
    echo "postgres.sh: initdb/pg_ctl not found: apt-get install postgresql" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "postgres.sh: no postgres user (install the postgresql package)" >&2; exit 1; }
    command -v runuser >/dev/null || { echo "postgres.sh: runuser missing (util-linux)" >&2; exit 1; }
    # initdb redirects to /dev/null as the postgres user: a broken /dev/null makes it fail.
    [ -c /dev/null ] || { echo "postgres.sh: /dev/null is not a character device" >&2; exit 1; }
fi
echo "postgres.sh: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') at $bindir"
