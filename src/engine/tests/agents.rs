//! Requests by AI agents (`jit mcp`): only roles with an `agent` table, the agent's caps and
//! approvers, the request held by the asking session, and the end of a session ending its
//! leases.

use super::*;
use crate::lease::Agent;

fn by_agent(role: &str, ttl: Option<u64>, session: String) -> RequestInput {
    RequestInput {
        agent: Some(Agent {
            client: "pytest-agent 9.8.7".into(),
            task: "rotate the app's keys".into(),
            ..Default::default()
        }),
        session: Some(session),
        ..asking(role, ttl)
    }
}

/// `alice`'s agent asks for `role` in `session`, and it is granted at once.
fn granted_to_agent(world: &World, role: &str, session: String) -> Lease {
    match world
        .engine("alice")
        .request(&who("alice"), &by_agent(role, None, session), None)
        .unwrap()
    {
        Requested::Granted { lease, .. } => lease,
        Requested::Pending { .. } => panic!("pending"),
    }
}

/// `alice`'s agent asks for `role` in `session`, and it waits for approval.
fn pending_for_agent(world: &World, role: &str, session: String) -> Lease {
    match world
        .engine("alice")
        .request(&who("alice"), &by_agent(role, None, session), None)
        .unwrap()
    {
        Requested::Pending { lease, .. } => lease,
        Requested::Granted { .. } => panic!("an agent's request was granted unapproved"),
    }
}

fn this_session() -> String {
    Session::this_process(&Process::this()).unwrap()
}

/// A session of this host whose process has ended (no process started at tick 1 runs now).
fn ended_session() -> String {
    format!("local:{}:{}:1", Process::this().host, std::process::id())
}

#[test]
fn an_agent_may_not_ask_for_a_role_without_an_agent_table() {
    let world = World::memory();
    let (exit, message) = exit_of(world.engine("alice").request(
        &who("alice"),
        &by_agent("own", None, this_session()),
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "role \"own\" is not open to agents: it has no [roles.own.agent] table"
    );
    assert!(
        world
            .store
            .leases(&LeaseFilter::default())
            .unwrap()
            .is_empty()
    );
    let denied = world.store.events(&store::EventFilter::default()).unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].kind, "denied");
    assert_eq!(denied[0].details["rule"], "roles.own.agent");
    // A person may still ask for it.
    world.granted("own", None);
}

#[test]
fn an_agent_is_held_to_the_agent_cap_and_a_person_is_not() {
    let world = World::memory();
    let (exit, message) = exit_of(world.engine("alice").request(
        &who("alice"),
        &by_agent("unattended", Some(30), this_session()),
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        "requested ttl 30m is over the cap: role unattended agent max_ttl is 15m (ask for at most 15m)"
    );
    // Unasked, the agent gets the cap; its lease says who asked, for what.
    let lease = granted_to_agent(&world, "unattended", this_session());
    assert_eq!(lease.expires_at, Some(minutes(15)));
    let stored = world.lease(&lease.id);
    assert_eq!(stored.agent.as_ref().unwrap().client, "pytest-agent 9.8.7");
    assert_eq!(stored.agent_session, Some(this_session()));
    let requested = &world.events(&lease.id)[0];
    assert_eq!(requested.details["agent"]["client"], "pytest-agent 9.8.7");
    assert_eq!(requested.details["agent"]["task"], "rotate the app's keys");
    // A person's request of the same role knows no agent cap.
    assert_eq!(
        world.granted("unattended", Some(30)).expires_at,
        Some(minutes(30))
    );
}

#[test]
fn a_held_request_stays_with_its_session_until_approved_and_granted_there() {
    let world = World::memory();
    let lease = pending_for_agent(&world, "agented", this_session());
    assert_eq!(lease.approvals_required, 1);
    assert_eq!(lease.worker, Some(Process::this().id));
    // A wait that ends undecided leaves the request the session's.
    let mut seen = 0;
    match world
        .engine("alice")
        .await_approval(&lease.id, Duration::ZERO, &mut |_| seen += 1)
        .unwrap()
    {
        Requested::Pending { lease, .. } => assert_eq!(lease.worker, Some(Process::this().id)),
        Requested::Granted { .. } => panic!("granted"),
    }
    assert_eq!(seen, 1);
    // The approver hands the grant over to the session, which grants it.
    match world
        .engine("bob")
        .decide(&lease.id, &who("bob"), Verdict::Approve, None)
        .unwrap()
    {
        Decided::HandedOver { lease } => assert_eq!(lease.state, LeaseState::Granting),
        _ => panic!("not handed over"),
    }
    assert!(world.own.calls().is_empty());
    match world
        .engine("alice")
        .await_approval(&lease.id, Duration::ZERO, &mut |_| {})
        .unwrap()
    {
        Requested::Granted { lease, .. } => {
            assert_eq!(lease.state, LeaseState::Active);
            assert_eq!(lease.expires_at, Some(minutes(15)));
        }
        Requested::Pending { .. } => panic!("still pending"),
    }
}

#[test]
fn approving_a_request_whose_session_ended_cancels_it() {
    let world = World::memory();
    let lease = pending_for_agent(&world, "agented", ended_session());
    let (exit, message) = exit_of(world.engine("bob").decide(
        &lease.id,
        &who("bob"),
        Verdict::Approve,
        None,
    ));
    assert_eq!(exit, Exit::Denied);
    assert_eq!(
        message,
        format!(
            "lease {} cannot be approved: the agent session (jit mcp) it was bound to has ended; the request is cancelled",
            lease.id
        )
    );
    assert_eq!(world.lease(&lease.id).state, LeaseState::Cancelled);
    assert!(world.own.calls().is_empty());
}

#[test]
fn the_sweeper_ends_the_leases_of_a_session_that_ended_and_keeps_the_others() {
    let world = World::sqlite();
    let grant = |session: String| granted_to_agent(&world, "unattended", session);
    let orphan = grant(ended_session());
    let held = grant(this_session());
    let asked = pending_for_agent(&world, "agented", ended_session());
    world.at(1);
    let report = world.sweep();
    assert_eq!(world.lease(&orphan.id).state, LeaseState::Revoked);
    assert_eq!(world.lease(&held.id).state, LeaseState::Active);
    assert_eq!(world.lease(&asked.id).state, LeaseState::Cancelled);
    assert_eq!(
        report.causes.get(&orphan.id).map(String::as_str),
        Some("the agent session (jit mcp) it was bound to has ended")
    );
    let revoked = world.last_details(&orphan.id);
    assert_eq!(revoked["recheck"], "session-ended");
    assert_eq!(world.last_details(&asked.id)["recheck"], "session-ended");
}

#[test]
fn an_agent_lease_follows_its_role_agent_table_as_it_changes() {
    let mut world = World::memory();
    let lease = granted_to_agent(&world, "unattended", this_session());
    let person = world.granted("unattended", Some(30));
    // The agent cap lowered: the agent's lease is shortened, a person's is not.
    let agent = world
        .config
        .roles
        .get_mut("unattended")
        .unwrap()
        .agent
        .as_mut()
        .unwrap();
    agent.max_ttl = secs(5 * 60);
    world.at(1);
    world.sweep();
    assert_eq!(world.lease(&lease.id).expires_at, Some(minutes(5)));
    assert_eq!(world.lease(&person.id).expires_at, Some(minutes(30)));
    assert_eq!(
        world.last_details(&lease.id)["rule"],
        "roles.unattended.agent.max_ttl"
    );
    // The agent table removed: the agent's lease is revoked, with the rule.
    world.config.roles.get_mut("unattended").unwrap().agent = None;
    world.at(2);
    let report = world.sweep();
    assert_eq!(world.lease(&lease.id).state, LeaseState::Revoked);
    assert_eq!(world.lease(&person.id).state, LeaseState::Active);
    assert_eq!(
        report.causes.get(&lease.id).map(String::as_str),
        Some(
            "role \"unattended\" is no longer open to agents: it has no [roles.unattended.agent] table"
        )
    );
    let revoked = world.last_details(&lease.id);
    assert_eq!(revoked["recheck"], "agents-closed");
    assert_eq!(revoked["rule"], "roles.unattended.agent");
}

#[test]
fn an_agent_task_or_client_people_would_misread_is_refused_and_nothing_recorded() {
    let world = World::memory();
    let cases = [
        (
            "pytest-agent 9.8.7",
            "list the users\n\u{1b}[2Kapproved by security",
            "the task holds control characters (such as a newline); give one line",
        ),
        (
            "pytest-agent 9.8.7",
            "read \u{202e}nimda",
            "the task holds U+202E, a Unicode format character (such as a right-to-left override or a zero-width space) that makes text read differently from what it is; remove it",
        ),
        (
            "pytest-agent 9.8.7",
            "  ",
            "the task is empty or longer than 500 characters",
        ),
        (
            "claude\u{200b}code",
            "count the accounts",
            "the agent's client name holds U+200B, a Unicode format character (such as a right-to-left override or a zero-width space) that makes text read differently from what it is; remove it",
        ),
    ];
    for (client, task, expected) in cases {
        let mut input = by_agent("unattended", None, this_session());
        input.agent = Some(Agent {
            client: client.into(),
            task: task.into(),
            ..Agent::default()
        });
        let (exit, message) = exit_of(world.engine("alice").request(&who("alice"), &input, None));
        assert_eq!(exit, Exit::Usage, "{task:?}");
        assert_eq!(message, expected);
    }
    assert!(
        world
            .store
            .leases(&LeaseFilter::default())
            .unwrap()
            .is_empty()
    );
    assert!(
        world
            .store
            .events(&store::EventFilter::default())
            .unwrap()
            .is_empty()
    );
}
