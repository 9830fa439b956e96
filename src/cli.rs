//! The command line, as clap definitions. Doc comments are the help text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Just-in-time privilege elevation: time-boxed, approved, audited access to real targets.
///
/// Exit codes: 0 success, 1 runtime error, 2 usage error, 3 denied by policy, 4 request
/// pending approval, 5 configuration invalid, 6 revocation incomplete (will be retried),
/// 7 findings reported (`jit discover --fail`).
#[derive(Debug, Parser)]
#[command(
    name = "jit",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_long_help = AFTER_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Exit status:
  0  success
  1  runtime error (backend unreachable, store error, internal)
  2  usage error (unknown flag, bad argument, unknown role or lease)
  3  denied by policy (not eligible, TTL over the cap, ticket missing or invalid, self-approval)
  4  request is pending approval
  5  configuration invalid
  6  revocation incomplete; the lease is revoke-failed and `jit sweep` retries it
  7  findings reported where the caller asked to fail on them (`jit discover --fail`)

Environment:
  JIT_CONFIG      configuration file (as --config)
  JIT_STATE_DIR   directory of the embedded store (jit.db)
  NO_COLOR        no colour in tables
  SUDO_USER       the requester, trusted only when jit runs as [identity] service_account

Files:
  $XDG_CONFIG_HOME/jit/config.toml   configuration
  $XDG_STATE_HOME/jit/jit.db         embedded store (0600)";

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Whether `--config` was given on the command line (not through JIT_CONFIG).
    #[arg(skip)]
    pub config_from_command_line: bool,
    /// Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]
    #[arg(
        long,
        global = true,
        env = "JIT_CONFIG",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Print one JSON document on stdout, and nothing else there
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only what scripts need
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print diagnostics on stderr
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

fn ttl(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask for a role: check policy, then grant now or wait for approval
    Request(RequestArgs),
    /// Grant a role, run CMD with the credentials in its environment, revoke when it ends
    Exec(ExecArgs),
    /// List leases (active and pending unless --all)
    List(ListArgs),
    /// Show one lease in full, with its audit events
    Show(ShowArgs),
    /// Revoke leases now and print their audit trail
    #[command(visible_alias = "drop")]
    Revoke(RevokeArgs),
    /// Move an active lease's end to now + TTL, within policy
    Extend(ExtendArgs),
    /// Print the AWS credentials of your live lease of a role, for `credential_process`
    CredentialProcess(CredentialProcessArgs),
    /// Approve a pending request
    Approve(ApproveArgs),
    /// Deny a pending request
    Deny(DenyArgs),
    /// Roles you may request, with their limits and rules
    Roles,
    /// Revoke expired leases, retry failed revocations, reconcile interrupted grants
    Sweep(SweepArgs),
    /// Find standing privilege on the targets: access held outside any live lease
    Discover(DiscoverArgs),
    /// An access review for auditors; certify eligibility rules
    Review(ReviewArgs),
    /// Read, verify, export and ship the audit trail
    Audit(AuditArgs),
    /// Carry out a team store's requests: grant, hand over credentials, sweep (a service)
    Worker(WorkerArgs),
    /// Set up the team store ([store] kind = "postgres")
    Store(StoreArgs),
    /// Serve the Model Context Protocol on stdio: agents ask for access, a person approves
    Mcp,
    /// Work with the configuration
    Config(ConfigArgs),
    /// Check the store, every secret reference and every target
    Doctor,
    /// Write a starter configuration with a local SSH certificate authority
    Init(InitArgs),
    /// Keep a secret in the OS keyring, for `keyring:NAME` references
    Secret(SecretArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
    /// Print the man page (roff)
    Man,
}

/// What is asked for: shared by `request` and `exec`.
#[derive(Debug, Args)]
pub struct LeaseArgs {
    /// The role to request
    #[arg(long, value_name = "ROLE")]
    pub role: String,
    /// How long the lease lasts (90s, 15m, 1h30m); default: the role's default_ttl
    #[arg(long, value_parser = ttl, value_name = "DURATION", allow_hyphen_values = true)]
    pub ttl: Option<Duration>,
    /// The change or incident ticket this access is for
    #[arg(long, value_name = "TICKET")]
    pub ticket: Option<String>,
    /// Why you need it
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// The public key to certify, for ssh roles [default: ~/.ssh/id_ed25519.pub]
    #[arg(long, value_name = "FILE")]
    pub pubkey: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub lease: LeaseArgs,
    /// Where to write an ssh certificate [default: beside the key, as KEY-cert.pub]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// When approval is needed, wait for it and then grant
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before giving up (exit 4)
    #[arg(long, value_parser = ttl, value_name = "DURATION", allow_hyphen_values = true, requires = "wait", default_value = "15m")]
    pub timeout: Duration,
    /// Print the decision and the effective window with every cap; change nothing
    #[arg(long, conflicts_with = "wait")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub lease: LeaseArgs,
    /// When approval is needed, how long to wait for it (then exit 4)
    #[arg(long, value_parser = ttl, value_name = "DURATION", allow_hyphen_values = true, default_value = "15m")]
    pub timeout: Duration,
    /// The command to run, after `--`
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include ended leases
    #[arg(long)]
    pub all: bool,
    /// Only leases in this state (implies --all for final states)
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only leases of this role
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Only leases you requested or hold
    #[arg(long)]
    pub mine: bool,
}

#[derive(Debug, Args)]
pub struct CredentialProcessArgs {
    /// The aws assume-role role whose lease's credentials to print
    #[arg(long, value_name = "ROLE")]
    pub role: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Lease id
    pub id: String,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["ids", "role", "mine"]))]
pub struct RevokeArgs {
    /// Lease ids
    pub ids: Vec<String>,
    /// Every live lease of this role that you requested or hold
    #[arg(long, value_name = "ROLE", conflicts_with = "ids")]
    pub role: Option<String>,
    /// Every live lease you requested or hold
    #[arg(long, conflicts_with = "ids")]
    pub mine: bool,
    /// Write the audit trail to FILE as JSON lines instead of printing it
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExtendArgs {
    /// Lease id
    pub id: String,
    /// The new length, counted from now
    #[arg(long, value_parser = ttl, value_name = "DURATION", allow_hyphen_values = true)]
    pub ttl: Duration,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Lease id of the pending request
    pub id: String,
    /// Why
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct DenyArgs {
    /// Lease id of the pending request
    pub id: String,
    /// Why (required)
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Keep running, waking for the next expiry
    #[arg(long)]
    pub watch: bool,
    /// Serve Prometheus metrics on http://ADDR/metrics while watching (ADDR: IP:PORT)
    #[arg(long, value_name = "ADDR", requires = "watch")]
    pub metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Look at this target only
    #[arg(long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Report findings of this kind only
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<crate::backend::discover::FindingKind>,
    /// Exit 7 when anything is found (for a CI job)
    #[arg(long, conflicts_with = "adopt")]
    pub fail: bool,
    /// Remove the standing holding FINDING (an id from the list) and print the eligibility
    /// rule that makes its holder eligible instead; a leftover of jit's own is removed
    #[arg(long, value_name = "FINDING", requires = "yes")]
    pub adopt: Option<String>,
    /// Confirm --adopt
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReviewArgs {
    #[command(subcommand)]
    pub command: Option<ReviewCommand>,
    /// Only what happened at or after this time (RFC 3339, or a duration ago such as 30d)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only what happened before this time (RFC 3339, or a duration ago)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this role
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// Only this subject
    #[arg(long, value_name = "SUBJECT")]
    pub subject: Option<String>,
    /// The report's format
    #[arg(long, value_enum)]
    pub format: Option<ReviewFormat>,
    /// Write to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReviewFormat {
    Html,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Record that an eligibility rule was reviewed and still holds
    Certify(CertifyArgs),
    /// Take a subject's eligibility under a rule away at once, until the configuration matches
    RevokeEligibility(RevokeEligibilityArgs),
}

#[derive(Debug, Args)]
pub struct CertifyArgs {
    /// The eligibility rule
    #[arg(value_name = "RULE")]
    pub rule: String,
    /// Why it still holds
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct RevokeEligibilityArgs {
    /// The eligibility rule
    #[arg(value_name = "RULE")]
    pub rule: String,
    /// Who no longer may request under it (user:NAME or group:NAME)
    #[arg(value_name = "SUBJECT")]
    pub subject: String,
    /// Why
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Carry out what is waiting and sweep once, then exit
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus metrics on http://ADDR/metrics (ADDR: IP:PORT)
    #[arg(long, value_name = "ADDR", conflicts_with = "once")]
    pub metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create the schema and the jit_requester, jit_approver and jit_worker database roles
    /// (once, as the database owner), or upgrade a schema written by an earlier jit
    Init,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only events of this lease
    #[arg(long, value_name = "ID")]
    pub lease: Option<String>,
    /// Only events at or after this time (RFC 3339, or a duration ago such as 2h)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain; exit 1 naming the first bad record. Prints the head as a
    /// checkpoint (SEQ:HASH) to keep elsewhere
    Verify(VerifyArgs),
    /// Write every event as JSON lines or CSV
    Export(ExportArgs),
    /// Forward the events not yet shipped to every [[audit.ship]] destination
    Ship,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also prove that the chain still holds this record at this place (a checkpoint an
    /// earlier `jit audit verify` printed); exit 1 naming it if the past was rewritten or cut
    #[arg(long, value_parser = checkpoint, value_name = "SEQ:HASH", allow_hyphen_values = true)]
    pub checkpoint: Option<crate::audit::Checkpoint>,
}

fn checkpoint(text: &str) -> Result<crate::audit::Checkpoint, String> {
    crate::audit::Checkpoint::parse(text)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
    Ocsf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Write to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration; every error with file:line:column
    Check(ConfigCheckArgs),
    /// Print the JSON Schema of the configuration file, for editors (Taplo, Even Better TOML)
    Schema,
}

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// Also show what the next sweep would do to the live leases under this configuration
    /// and the OS groups as they are now (each lease it would revoke, shorten or cancel, with
    /// the cause), changing nothing
    #[arg(long)]
    pub live: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing configuration and certificate authority
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SecretArgs {
    #[command(subcommand)]
    pub command: SecretCommand,
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Read a secret from stdin and keep it in the keyring as NAME
    Set {
        /// The name used in `keyring:NAME`
        name: String,
    },
    /// Remove NAME from the keyring
    Delete {
        /// The name used in `keyring:NAME`
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
