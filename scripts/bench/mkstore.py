#!/usr/bin/env python3
"""Create a jit store filled with benchmark data, fast.

    mkstore.py leases DB COUNT USER [LIVE]
        # COUNT leases; the first LIVE (default: all) active and ending in the future,
        # the rest revoked
    mkstore.py audit  DB COUNT USER   # a valid COUNT-event audit chain + its head

DB must not exist yet. The store is made as jit makes it: src/store/schema.sql run as it
is, `user_version` set to SCHEMA_VERSION of src/store/sqlite.rs, WAL mode, the file 0600
in a 0700 directory; so the schema cannot drift from jit's. The rows follow
src/store/sqlite.rs exactly: lease times are unix seconds, handle and params are JSON
text, audit `at` is "%Y-%m-%dT%H:%M:%SZ", and every audit hash is
SHA-256(prev_hash_hex || canonical) with the canonical JSON of src/audit.rs. A lease
column this script does not fill (one jit added since) stops it with an error.
Only for benchmarks: never point it at a real store.
"""
import hashlib
import json
import os
import random
import re
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


STORE_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "store")

# The columns of `leases` this script fills, in the order of its rows.
LEASE_COLUMNS = (
    "id", "role", "target", "backend", "subject", "requester", "state", "ticket", "reason",
    "created_at", "granted_at", "expires_at", "ended_at", "ttl_secs", "approvals_required",
    "break_glass", "handle", "params", "ending", "worker", "worker_at", "attempts",
    "next_attempt_at", "last_error", "agent", "agent_session", "document",
)


def schema_version():
    with open(os.path.join(STORE_SRC, "sqlite.rs")) as source:
        found = re.search(r"^const SCHEMA_VERSION: i64 = (\d+);$", source.read(), re.M)
    if not found:
        sys.exit("mkstore.py: no `const SCHEMA_VERSION: i64 = N;` in src/store/sqlite.rs")
    return int(found.group(1))


def connect(path):
    """Create the store at `path` as SqliteStore::open and create_schema do."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        sys.exit(f"mkstore.py: {path} exists; it makes a new store only")
    with open(os.path.join(STORE_SRC, "schema.sql")) as schema:
        ddl = schema.read()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    for statement in split_sql(ddl):
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {schema_version()}")
    conn.execute("COMMIT")
    columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(leases)"))
    if sorted(columns) != sorted(LEASE_COLUMNS):
        sys.exit("mkstore.py: src/store/schema.sql has the lease columns "
                 f"{', '.join(columns)}; this script fills {', '.join(LEASE_COLUMNS)}: "
                 "update fill_leases and document() to match")
    return conn


def split_sql(text):
    """The statements of schema.sql, one by one, to run in one transaction."""
    statement = ""
    for line in text.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    if statement.strip() and not all(
            l.strip().startswith("--") or not l.strip() for l in statement.splitlines()):
        sys.exit(f"mkstore.py: an unfinished statement at the end of schema.sql: {statement}")


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
            0,                               # break_glass
            "null",                          # handle (JSON text)
            "{}",                            # params (JSON text)
            None,                            # ending
            None,                            # worker
            None,                            # worker_at
            0,                               # attempts
            None,                            # next_attempt_at
            None,                            # last_error
            None,                            # agent (a person's lease)
            None,                            # agent_session
        ))
        rows[-1] = rows[-1] + (document(rows[-1]),)
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        f"INSERT INTO leases ({', '.join(LEASE_COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in LEASE_COLUMNS)})",
        rows,
    )
    finish(conn)


def document(row):
    # The lease JSON as jit stores it with each lease (serde of lease::Lease): fields in
    # declaration order, times RFC 3339 to the second, compact.
    (lease_id, role, target, backend, subject, requester, state, ticket, reason,
     created, granted, expires, ended) = row[:13]
    break_glass = bool(row[LEASE_COLUMNS.index("break_glass")])
    fields = [
        ("id", lease_id), ("role", role), ("target", target), ("backend", backend),
        ("subject", subject), ("requester", requester), ("state", state),
        ("ticket", ticket), ("reason", reason), ("created_at", rfc3339(created)),
        ("granted_at", rfc3339(granted)), ("expires_at", rfc3339(expires)),
        ("ended_at", rfc3339(ended) if ended is not None else None), ("approvals", []),
        ("break_glass", break_glass),
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
