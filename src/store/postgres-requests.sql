-- Who may insert which rows into the work queue (schema 2): see postgres.sql.
-- Each kind of row carries only what it needs, and no row can make a worker act on someone
-- else's lease: a request names no lease (the worker links the one it creates), a revoke or
-- an extension names a lease of the inserter's own (or, for a revoke, one an approver may
-- end: the worker checks the role's approvers), a decision names someone else's lease.
CREATE POLICY ask ON jit.requests FOR INSERT TO jit_requester
    WITH CHECK (requester = session_user AND status = 'new' AND taken_by IS NULL
                AND ((kind = 'request' AND lease_id IS NULL)
                     OR (kind IN ('revoke', 'extend') AND lease_id IS NOT NULL
                         AND role IS NULL AND ticket IS NULL AND public_key IS NULL
                         AND handoff_key IS NULL AND agent IS NULL AND agent_session IS NULL
                         AND (kind = 'extend' OR ttl_secs IS NULL)
                         AND (EXISTS (SELECT 1 FROM jit.leases l WHERE l.id = requests.lease_id
                                      AND (l.requester = session_user OR l.subject = session_user))
                              OR (kind = 'revoke'
                                  AND pg_has_role(session_user, 'jit_approver', 'MEMBER'))))));
CREATE POLICY decide ON jit.requests FOR INSERT TO jit_approver
    WITH CHECK (requester = session_user AND status = 'new' AND taken_by IS NULL
                AND kind IN ('approve', 'deny') AND lease_id IS NOT NULL
                AND role IS NULL AND ttl_secs IS NULL AND ticket IS NULL
                AND public_key IS NULL AND handoff_key IS NULL
                AND agent IS NULL AND agent_session IS NULL
                AND EXISTS (SELECT 1 FROM jit.leases l WHERE l.id = requests.lease_id
                            AND l.requester <> session_user AND l.subject <> session_user));
