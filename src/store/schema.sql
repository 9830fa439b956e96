-- The embedded store. Times of leases are unix seconds (UTC); audit times are the RFC 3339
-- text that the hash covers.
CREATE TABLE leases (
    id                 TEXT PRIMARY KEY,
    role               TEXT NOT NULL,
    target             TEXT NOT NULL,
    backend            TEXT NOT NULL,
    subject            TEXT NOT NULL,
    requester          TEXT NOT NULL,
    state              TEXT NOT NULL,
    ticket             TEXT,
    reason             TEXT,
    created_at         INTEGER NOT NULL,
    granted_at         INTEGER,
    expires_at         INTEGER,
    ended_at           INTEGER,
    ttl_secs           INTEGER NOT NULL,
    approvals_required INTEGER NOT NULL,
    -- Granted through a break-glass role (0 or 1).
    break_glass        INTEGER NOT NULL DEFAULT 0,
    handle             TEXT NOT NULL,
    params             TEXT NOT NULL,
    -- The lease as the lease JSON shows it, kept with every write: listing many leases
    -- copies these instead of building each one again.
    document           TEXT NOT NULL,
    ending             TEXT,
    worker             TEXT,
    worker_at          INTEGER,
    attempts           INTEGER NOT NULL,
    next_attempt_at    INTEGER,
    last_error         TEXT,
    agent              TEXT,
    agent_session      TEXT
);
-- `agent`, `agent_session`: a lease asked for by an AI agent through `jit mcp`, the agent
-- (JSON: client, task) and the session whose end ends it.
CREATE INDEX leases_by_state ON leases (state, expires_at);
CREATE INDEX leases_by_entitlement ON leases (role, subject, state);
-- The live leases in list order, with their documents: `jit list --json` reads only this.
CREATE INDEX leases_live ON leases (created_at, id, state, document)
    WHERE state IN ('pending', 'granting', 'active', 'revoking', 'revoke-failed');

CREATE TABLE approvals (
    lease_id TEXT NOT NULL REFERENCES leases (id),
    by       TEXT NOT NULL,
    at       INTEGER NOT NULL,
    decision TEXT NOT NULL,
    reason   TEXT,
    PRIMARY KEY (lease_id, by)
);

CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    lease_id  TEXT,
    kind      TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_by_lease ON audit (lease_id, seq);
-- The events of a kind: policy reads the certifications (certified, decertified) at each
-- request.
CREATE INDEX audit_by_kind ON audit (kind, seq);

-- The last record appended, so that removing records from the end is seen too.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);

-- How far each audit shipping destination has received the chain: the seq and hash of the
-- last record it acknowledged (the hash shows a chain that forked, after a restore say).
CREATE TABLE audit_shipping (
    destination TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    failed_at   INTEGER,
    error       TEXT,
    hash        TEXT
);

-- The store's own name, made at random with it (see `Store::identity`): the mark on what
-- jit grants.
CREATE TABLE store_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL
);
INSERT INTO store_identity VALUES (1, lower(hex(randomblob(8))));
