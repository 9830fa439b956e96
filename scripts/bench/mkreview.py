#!/usr/bin/env python3
"""Create a jit store with a review's worth of history, fast (scripts/bench-review.sh).

    mkreview.py DB LEASES EVENTS USER

DB must not exist yet; it is made as mkstore.py makes a store (jit's own schema.sql, its
schema version, WAL, 0600). LEASES leases over the last 30 days, 20 roles and 50 subjects,
each with the audit events jit writes for it (requested, granted, approved for every
second, extended for every fourth, revoke-failed for every twentieth, then revoked or
expired; the last hundredth still live), and `denied` events (a policy rule's) until the
chain holds EVENTS records. Every hash is computed as src/audit.rs computes it, so
`jit audit verify` holds. Only for benchmarks: never point it at a real store.
"""
import hashlib
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkstore  # noqa: E402


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    path, leases, events, user = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = random.Random(3)
    now = int(time.time())
    base = now - 30 * 86400
    step = max(1, (30 * 86400 - 7200) // max(leases, 1))
    ids = mkstore.lease_ids(rng, leases)
    rng.shuffle(ids)
    live_from = leases - max(1, leases // 100)
    rows, timeline = [], []
    for i, lease_id in enumerate(ids):
        role, subject = f"role-{i % 20}", f"user{i % 50}"
        created = base + i * step
        granted = created + (60 if i % 2 == 0 else 1)
        ttl = 3600
        live = i >= live_from
        expires = max(granted + ttl, now + 600) if live else granted + ttl
        if live:
            state, ended = "active", None
        elif i % 3 == 0:
            state, ended = "expired", granted + ttl + 30
        else:
            state, ended = "revoked", granted + rng.randint(120, ttl - 60)
        if i % 20 == 0 and not live:
            ended += 600  # a failed revocation, retried ten minutes later
        break_glass = int(i % 97 == 0)
        row = (
            lease_id, role, "noop", "command", subject, subject, state,
            f"CHG-{10000 + i}", "benchmark <review> & co", created, granted, expires, ended,
            expires - granted, 1 if i % 2 == 0 else 0, break_glass, "null", "{}", None, None,
            None, 0, None, None, None, None,
        )
        rows.append(row + (mkstore.document(row),))
        details = {
            "role": role, "target": "noop", "backend": "command", "ttl": "1h",
            "ttl_source": "requested", "caps": [], "ticket": f"CHG-{10000 + i}",
            "reason": "benchmark <review> & co", "approvals_required": 1 if i % 2 == 0 else 0,
            "ticket_status": "open",
        }
        timeline.append((created, subject, lease_id, "requested", details))
        if i % 2 == 0:
            timeline.append((granted, "approver", lease_id, "approved",
                             {"by": "approver", "reason": None, "approvals": 1, "required": 1}))
        granted_details = {"expires_at": mkstore.rfc3339(granted + ttl),
                           "target_expires_at": mkstore.rfc3339(granted + ttl),
                           "native_expiry": None, "credentials_issued": False}
        if break_glass:
            granted_details["break_glass"] = True
        timeline.append((granted, subject, lease_id, "granted", granted_details))
        if i % 4 == 0:
            timeline.append((granted + 60, subject, lease_id, "extended",
                             {"from": mkstore.rfc3339(granted + ttl), "to": mkstore.rfc3339(granted + ttl),
                              "ttl": "1h", "caps": []}))
        if live:
            continue
        if i % 20 == 0:
            timeline.append((ended - 600, "jit", lease_id, "revoke-failed",
                             {"error": "target unreachable", "retryable": True, "attempt": 1,
                              "next_attempt_at": mkstore.rfc3339(ended - 540)}))
        timeline.append((ended, subject, lease_id, state, {"attempts": 1}))
    for n in range(max(0, events - len(timeline))):
        at = base + rng.randint(0, 30 * 86400 - 60)
        subject = f"user{n % 50}"
        timeline.append((at, subject, None, "denied", {
            "role": f"role-{n % 20}", "subject": subject, "by": subject,
            "rule": "eligibility", "reason": f"{subject} is not eligible"}))
    timeline.sort(key=lambda e: e[0])
    prev, audit = mkstore.GENESIS, []
    for seq, (at_secs, actor, lease_id, kind, details) in enumerate(timeline[:events], 1):
        at = mkstore.rfc3339(at_secs)
        text = mkstore.canonical_details(details)
        body = mkstore.canonical(seq, at, actor, lease_id, kind, text)
        digest = hashlib.sha256((prev + body).encode("utf-8")).hexdigest()
        audit.append((seq, at, actor, lease_id, kind, text, prev, digest))
        prev = digest
    conn = mkstore.connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        f"INSERT INTO leases ({', '.join(mkstore.LEASE_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in mkstore.LEASE_COLUMNS)})",
        rows,
    )
    conn.executemany(
        "INSERT INTO audit (seq, at, actor, lease_id, kind, details, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        audit,
    )
    conn.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)", (len(audit), prev))
    mkstore.finish(conn)
    print(f"{len(rows)} leases, {len(audit)} audit events")


if __name__ == "__main__":
    main()
