#!/usr/bin/env python3
"""check_leases.py DB: every lease in a request/revoke benchmark store was granted and revoked."""
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1])
states = dict(db.execute("SELECT state, count(*) FROM leases GROUP BY state").fetchall())
kinds = dict(db.execute("SELECT kind, count(*) FROM audit GROUP BY kind").fetchall())
n = states.get("revoked", 0)
if n == 0 or set(states) != {"revoked"} or kinds != {"requested": n, "granted": n, "revoked": n}:
    sys.exit(f"bench: unexpected lease states {states} / audit events {kinds}")
print(f"checked: all {n} leases were granted, then revoked")
