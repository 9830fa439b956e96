#!/usr/bin/env python3
"""Fill a jit store (already created by jit itself) with benchmark data, fast.

    mkstore.py leases DB COUNT USER [LIVE]
        # COUNT leases; the first LIVE (default: all) active and ending in the future,
        # the rest revoked
    mkstore.py audit  DB COUNT USER   # a valid COUNT-event audit chain + its head

The rows follow src/store/sqlite.rs exactly: lease times are unix seconds, handle and
params are JSON text, audit `at` is "%Y-%m-%dT%H:%M:%SZ", and every audit hash is
SHA-256(prev_hash_hex || canonical) with the canonical JSON of src/audit.rs.
Only for benchmarks: never point it at a real store.
"""
import hashlib
import json
import random
import sqlite3
import sys
import time

ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # lease::new_id
GENESIS = "0" * 64  # audit::GENESIS


def lease_ids(rng, count):
    seen = set()
    while len(seen) < count:
        seen.add("".join(rng.choice(ALPHABET) for _ in range(10)))
    return sorted(seen)


def connect(path):
    conn = sqlite3.connect(path, isolation_level=None)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != 3:
        sys.exit(f"{path}: schema version {version}, expected 3 (let jit create the store first)")
    return conn


def finish(conn):
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def fill_leases(path, count, user, live=None):
    live = count if live is None else live
    rng = random.Random(1)
    now = int(time.time())
    rows = []
    for i, lease_id in enumerate(lease_ids(rng, count)):
        created = now - rng.randint(60, 3000)
        ttl = 3600 * rng.randint(1, 8)
        granted = created + rng.randint(0, 5)
        ended = i >= live                # the first `live` leases are active, the rest revoked
        expires = granted + ttl if ended else max(granted + ttl, now + 600)
        rows.append((
            lease_id,                        # id
            f"role-{i % 20}",                # role
            "noop",                          # target
            "command",                       # backend
            user,                            # subject
            user,                            # requester
            "revoked" if ended else "active",  # state
            f"CHG-{10000 + i}" if i % 2 else None,  # ticket
            "benchmark lease" if i % 3 else None,   # reason
            created,                         # created_at
            granted,                         # granted_at
            expires,                         # expires_at
            granted + 60 if ended else None,  # ended_at
            expires - granted,               # ttl_secs
            0,                               # approvals_required
            "null",                          # handle (JSON text)
            "{}",                            # params (JSON text)
            None,                            # ending
            None,                            # worker
            None,                            # worker_at
            0,                               # attempts
            None,                            # next_attempt_at
            None,                            # last_error
        ))
        rows[-1] = rows[-1] + (document(rows[-1]),)
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO leases (id, role, target, backend, subject, requester, state, ticket, "
        "reason, created_at, granted_at, expires_at, ended_at, ttl_secs, approvals_required, "
        "handle, params, ending, worker, worker_at, attempts, next_attempt_at, last_error, "
        "document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    finish(conn)


def document(row):
    # The lease JSON as jit stores it with each lease (serde of lease::Lease): fields in
    # declaration order, times RFC 3339 to the second, compact.
    (lease_id, role, target, backend, subject, requester, state, ticket, reason,
     created, granted, expires, ended) = row[:13]
    fields = [
        ("id", lease_id), ("role", role), ("target", target), ("backend", backend),
        ("subject", subject), ("requester", requester), ("state", state),
        ("ticket", ticket), ("reason", reason), ("created_at", rfc3339(created)),
        ("granted_at", rfc3339(granted)), ("expires_at", rfc3339(expires)),
        ("ended_at", rfc3339(ended) if ended is not None else None), ("approvals", []),
    ]
    return json.dumps(dict(fields), ensure_ascii=False, separators=(",", ":"))


def jstr(text):
    # serde_json string escaping; identical to json.dumps for the ASCII text used here.
    return json.dumps(text, ensure_ascii=False)


def canonical_details(value):
    # audit::canonical_details: keys sorted at every depth, no white space.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(seq, at, actor, lease_id, kind, details):
    # audit::canonical: {"actor","at","details","kind","lease_id","seq"} in this order.
    return (
        '{"actor":' + jstr(actor)
        + ',"at":' + jstr(at)
        + ',"details":' + details
        + ',"kind":' + jstr(kind)
        + ',"lease_id":' + ("null" if lease_id is None else jstr(lease_id))
        + ',"seq":' + str(seq)
        + "}"
    )


def rfc3339(secs):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))


def lifecycle(lease_id, start):
    """The three events of one request -> grant -> revoke, shaped like engine.rs writes them."""
    ttl = 3600
    yield start, "requested", {
        "role": "bench", "target": "noop", "backend": "command", "ttl": "1h",
        "ttl_source": "role default_ttl",
        "caps": [{"source": "role max_ttl", "limit": "1h"}],
        "ticket": "CHG-4711", "reason": "benchmark", "approvals_required": 0,
    }
    yield start + 1, "granted", {
        "expires_at": rfc3339(start + 1 + ttl), "target_expires_at": rfc3339(start + 1 + ttl),
        "native_expiry": None, "credentials_issued": False,
    }
    yield start + 60, "revoked", {"attempts": 1}


def fill_audit(path, count, user):
    rng = random.Random(2)
    ids = lease_ids(rng, (count + 2) // 3)
    base = int(time.time()) - 30 * 86400
    prev = GENESIS
    rows = []
    seq = 0
    for n, lease_id in enumerate(ids):
        for at_secs, kind, details in lifecycle(lease_id, base + n * 20):
            if seq == count:
                break
            seq += 1
            at = rfc3339(at_secs)
            details_text = canonical_details(details)
            body = canonical(seq, at, user, lease_id, kind, details_text)
            digest = hashlib.sha256((prev + body).encode("utf-8")).hexdigest()
            rows.append((seq, at, user, lease_id, kind, details_text, prev, digest))
            prev = digest
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO audit (seq, at, actor, lease_id, kind, details, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (seq, prev),
    )
    finish(conn)


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[1] not in ("leases", "audit"):
        sys.exit(__doc__)
    what, path, count, user = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if what == "leases":
        fill_leases(path, count, user, int(sys.argv[5]) if len(sys.argv) == 6 else None)
    else:
        fill_audit(path, count, user)


if __name__ == "__main__":
    main()
