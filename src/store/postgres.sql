-- The team store, schema 3, created by `jit store init` as the database owner in one
-- transaction. Times of leases are unix seconds (UTC); audit times are the RFC 3339 text
-- that the hash covers. Identity is the database session's login (`session_user`), which
-- `SET ROLE` cannot change.
CREATE SCHEMA jit;

CREATE TABLE jit.meta (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    -- The store's own name, the mark on what jit grants (see `Store::identity`).
    store_id TEXT NOT NULL DEFAULT substr(md5(gen_random_uuid()::text), 1, 16)
);
INSERT INTO jit.meta (id, version) VALUES (1, 4);

CREATE TABLE jit.leases (
    id                 TEXT PRIMARY KEY,
    role               TEXT NOT NULL,
    target             TEXT NOT NULL,
    backend            TEXT NOT NULL,
    subject            TEXT NOT NULL,
    requester          TEXT NOT NULL,
    state              TEXT NOT NULL,
    ticket             TEXT,
    reason             TEXT,
    created_at         BIGINT NOT NULL,
    granted_at         BIGINT,
    expires_at         BIGINT,
    ended_at           BIGINT,
    ttl_secs           BIGINT NOT NULL,
    approvals_required INTEGER NOT NULL,
    handle             TEXT NOT NULL,
    params             TEXT NOT NULL,
    document           TEXT NOT NULL,
    ending             TEXT,
    worker             TEXT,
    worker_at          BIGINT,
    attempts           INTEGER NOT NULL,
    next_attempt_at    BIGINT,
    last_error         TEXT,
    break_glass        BOOLEAN NOT NULL DEFAULT false,
    -- Asked for by an AI agent through `jit mcp` (JSON: client, task), and the session
    -- whose end ends it.
    agent              TEXT,
    agent_session      TEXT
);
CREATE INDEX leases_by_state ON jit.leases (state, expires_at);
CREATE INDEX leases_by_entitlement ON jit.leases (role, subject, state);
CREATE INDEX leases_live ON jit.leases (created_at, id)
    WHERE state IN ('pending', 'granting', 'active', 'revoking', 'revoke-failed');

CREATE TABLE jit.approvals (
    lease_id TEXT NOT NULL REFERENCES jit.leases (id),
    by       TEXT NOT NULL,
    at       BIGINT NOT NULL,
    decision TEXT NOT NULL,
    reason   TEXT,
    PRIMARY KEY (lease_id, by)
);

CREATE TABLE jit.audit (
    seq       BIGINT PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    lease_id  TEXT,
    kind      TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_by_lease ON jit.audit (lease_id, seq);

-- The last record appended. Every append locks this row first, so appends from every
-- worker form one chain.
CREATE TABLE jit.audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO jit.audit_head VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- How far each shipping destination has the chain: the seq and hash of the last record it
-- acknowledged (the hash shows a chain that forked after a restore or a failover).
CREATE TABLE jit.audit_shipping (
    destination TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    failed_at   BIGINT,
    error       TEXT,
    hash        TEXT
);

-- The work queue: what people ask of the workers. A requester or approver inserts a row
-- (as themselves: `requester` is their login, checked below) and reads its answer; only a
-- worker takes, answers or changes one.
CREATE TABLE jit.requests (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('request', 'approve', 'deny', 'revoke', 'extend')),
    requester   TEXT NOT NULL DEFAULT session_user,
    role        TEXT,
    lease_id    TEXT,
    ttl_secs    BIGINT,
    ticket      TEXT,
    reason      TEXT,
    public_key  TEXT,
    -- The public half of the requesting process's one-time key (X25519).
    handoff_key BYTEA CHECK (handoff_key IS NULL OR length(handoff_key) = 32),
    -- A request by an AI agent through `jit mcp`: the agent (JSON: client, task) and the
    -- requesting process's session (`pg:PID:START`, its connection to this database).
    agent       TEXT,
    agent_session TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    status      TEXT NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'pending', 'done', 'refused')),
    taken_by    TEXT,
    taken_at    TIMESTAMPTZ,
    exit_code   INTEGER,
    message     TEXT,
    answered_at TIMESTAMPTZ
);
CREATE INDEX requests_new ON jit.requests (id) WHERE status = 'new';
-- A lease is created by one request, which the worker links to it; the hand-over goes to
-- that row alone.
CREATE UNIQUE INDEX requests_one_per_lease ON jit.requests (lease_id) WHERE kind = 'request';

-- Credentials sealed to a requesting process's one-time key, until it picks them up or
-- the lease ends.
CREATE TABLE jit.handoffs (
    lease_id   TEXT PRIMARY KEY REFERENCES jit.leases (id),
    requester  TEXT NOT NULL,
    ciphertext BYTEA NOT NULL
);

-- Wake the workers when work arrives, and the asker when its answer does.
CREATE FUNCTION jit.wake_workers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jit_work', '');
    RETURN NULL;
END $$;
CREATE TRIGGER requests_wake AFTER INSERT ON jit.requests
    FOR EACH STATEMENT EXECUTE FUNCTION jit.wake_workers();

CREATE FUNCTION jit.answered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jit_answer', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER requests_answered AFTER UPDATE OF status ON jit.requests
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION jit.answered();

-- Who may do what. People read leases and the audit trail; they write only requests of
-- their own, and approvals only as approvers of other people's requests.
GRANT USAGE ON SCHEMA jit TO jit_requester, jit_approver, jit_worker;
GRANT SELECT ON jit.meta, jit.leases, jit.approvals, jit.audit, jit.audit_head
    TO jit_requester, jit_approver;
GRANT SELECT ON jit.requests TO jit_requester, jit_approver;
GRANT INSERT (kind, role, lease_id, ttl_secs, ticket, reason, public_key, handoff_key,
               agent, agent_session)
    ON jit.requests TO jit_requester, jit_approver;
GRANT USAGE ON SEQUENCE jit.requests_id_seq TO jit_requester, jit_approver;
GRANT SELECT, DELETE ON jit.handoffs TO jit_requester;

GRANT SELECT ON jit.meta TO jit_worker;
GRANT SELECT, INSERT, UPDATE ON jit.leases, jit.approvals, jit.audit_head, jit.audit_shipping,
    jit.requests TO jit_worker;
GRANT DELETE ON jit.audit_shipping TO jit_worker;
-- The chain is appended to, never changed.
GRANT SELECT, INSERT ON jit.audit TO jit_worker;
GRANT SELECT, INSERT, DELETE ON jit.handoffs TO jit_worker;
GRANT USAGE ON SEQUENCE jit.requests_id_seq TO jit_worker;

ALTER TABLE jit.requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_requests ON jit.requests FOR SELECT TO jit_requester, jit_approver
    USING (requester = session_user);
-- The policies `ask` (requesters) and `decide` (approvers) are in postgres-requests.sql,
-- run right after this file (and again by the upgrade from any earlier schema).
CREATE POLICY work ON jit.requests FOR ALL TO jit_worker USING (true) WITH CHECK (true);

ALTER TABLE jit.handoffs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_handoffs ON jit.handoffs FOR ALL TO jit_requester
    USING (requester = session_user);
CREATE POLICY work ON jit.handoffs FOR ALL TO jit_worker USING (true) WITH CHECK (true);
