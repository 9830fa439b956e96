# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_jit_global_optspecs
    string join \n config= json q/quiet v/verbose h/help V/version
end

function __fish_jit_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_jit_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_jit_using_subcommand
    set -l cmd (__fish_jit_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c jit -n "__fish_jit_needs_command" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_needs_command" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_needs_command" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_needs_command" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jit -n "__fish_jit_needs_command" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_needs_command" -f -a "request" -d 'Ask for a role: check policy, then grant now or wait for approval'
complete -c jit -n "__fish_jit_needs_command" -f -a "exec" -d 'Grant a role, run CMD with the credentials in its environment, revoke when it ends'
complete -c jit -n "__fish_jit_needs_command" -f -a "list" -d 'List leases (active and pending unless --all)'
complete -c jit -n "__fish_jit_needs_command" -f -a "show" -d 'Show one lease in full, with its audit events'
complete -c jit -n "__fish_jit_needs_command" -f -a "revoke" -d 'Revoke leases now and print their audit trail'
complete -c jit -n "__fish_jit_needs_command" -f -a "drop" -d 'Revoke leases now and print their audit trail'
complete -c jit -n "__fish_jit_needs_command" -f -a "extend" -d 'Move an active lease\'s end to now + TTL, within policy'
complete -c jit -n "__fish_jit_needs_command" -f -a "credential-process" -d 'Print the AWS credentials of your live lease of a role, for `credential_process`'
complete -c jit -n "__fish_jit_needs_command" -f -a "approve" -d 'Approve a pending request'
complete -c jit -n "__fish_jit_needs_command" -f -a "deny" -d 'Deny a pending request'
complete -c jit -n "__fish_jit_needs_command" -f -a "roles" -d 'Roles you may request, with their limits and rules'
complete -c jit -n "__fish_jit_needs_command" -f -a "sweep" -d 'Revoke expired leases, retry failed revocations, reconcile interrupted grants'
complete -c jit -n "__fish_jit_needs_command" -f -a "discover" -d 'Find standing privilege on the targets: access held outside any live lease'
complete -c jit -n "__fish_jit_needs_command" -f -a "review" -d 'An access review for auditors; certify eligibility rules'
complete -c jit -n "__fish_jit_needs_command" -f -a "audit" -d 'Read, verify, export and ship the audit trail'
complete -c jit -n "__fish_jit_needs_command" -f -a "worker" -d 'Carry out a team store\'s requests: grant, hand over credentials, sweep (a service)'
complete -c jit -n "__fish_jit_needs_command" -f -a "store" -d 'Set up the team store ([store] kind = "postgres")'
complete -c jit -n "__fish_jit_needs_command" -f -a "mcp" -d 'Serve the Model Context Protocol on stdio: agents ask for access, a person approves'
complete -c jit -n "__fish_jit_needs_command" -f -a "config" -d 'Work with the configuration'
complete -c jit -n "__fish_jit_needs_command" -f -a "doctor" -d 'Check the store, every secret reference and every target'
complete -c jit -n "__fish_jit_needs_command" -f -a "init" -d 'Write a starter configuration with a local SSH certificate authority'
complete -c jit -n "__fish_jit_needs_command" -f -a "secret" -d 'Keep a secret in the OS keyring, for `keyring:NAME` references'
complete -c jit -n "__fish_jit_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c jit -n "__fish_jit_needs_command" -f -a "man" -d 'Print the man page (roff)'
complete -c jit -n "__fish_jit_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand request" -l role -d 'The role to request' -r
complete -c jit -n "__fish_jit_using_subcommand request" -l ttl -d 'How long the lease lasts (90s, 15m, 1h30m); default: the role\'s default_ttl' -r
complete -c jit -n "__fish_jit_using_subcommand request" -l ticket -d 'The change or incident ticket this access is for' -r
complete -c jit -n "__fish_jit_using_subcommand request" -l reason -d 'Why you need it' -r
complete -c jit -n "__fish_jit_using_subcommand request" -l pubkey -d 'The public key to certify, for ssh roles [default: ~/.ssh/id_ed25519.pub]' -r -F
complete -c jit -n "__fish_jit_using_subcommand request" -l out -d 'Where to write an ssh certificate [default: beside the key, as KEY-cert.pub]' -r -F
complete -c jit -n "__fish_jit_using_subcommand request" -l timeout -d 'How long --wait waits before giving up (exit 4)' -r
complete -c jit -n "__fish_jit_using_subcommand request" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand request" -l wait -d 'When approval is needed, wait for it and then grant'
complete -c jit -n "__fish_jit_using_subcommand request" -l dry-run -d 'Print the decision and the effective window with every cap; change nothing'
complete -c jit -n "__fish_jit_using_subcommand request" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand request" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand request" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand request" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand request" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand exec" -l role -d 'The role to request' -r
complete -c jit -n "__fish_jit_using_subcommand exec" -l ttl -d 'How long the lease lasts (90s, 15m, 1h30m); default: the role\'s default_ttl' -r
complete -c jit -n "__fish_jit_using_subcommand exec" -l ticket -d 'The change or incident ticket this access is for' -r
complete -c jit -n "__fish_jit_using_subcommand exec" -l reason -d 'Why you need it' -r
complete -c jit -n "__fish_jit_using_subcommand exec" -l pubkey -d 'The public key to certify, for ssh roles [default: ~/.ssh/id_ed25519.pub]' -r -F
complete -c jit -n "__fish_jit_using_subcommand exec" -l timeout -d 'When approval is needed, how long to wait for it (then exit 4)' -r
complete -c jit -n "__fish_jit_using_subcommand exec" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand exec" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand exec" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand exec" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand exec" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand exec" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand list" -l state -d 'Only leases in this state (implies --all for final states)' -r
complete -c jit -n "__fish_jit_using_subcommand list" -l role -d 'Only leases of this role' -r
complete -c jit -n "__fish_jit_using_subcommand list" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand list" -l all -d 'Include ended leases'
complete -c jit -n "__fish_jit_using_subcommand list" -l mine -d 'Only leases you requested or hold'
complete -c jit -n "__fish_jit_using_subcommand list" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand list" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand list" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand list" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand list" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand show" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand show" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand show" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand show" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand show" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand show" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand revoke" -l role -d 'Every live lease of this role that you requested or hold' -r
complete -c jit -n "__fish_jit_using_subcommand revoke" -l export -d 'Write the audit trail to FILE as JSON lines instead of printing it' -r -F
complete -c jit -n "__fish_jit_using_subcommand revoke" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand revoke" -l mine -d 'Every live lease you requested or hold'
complete -c jit -n "__fish_jit_using_subcommand revoke" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand revoke" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand revoke" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand revoke" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand revoke" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand drop" -l role -d 'Every live lease of this role that you requested or hold' -r
complete -c jit -n "__fish_jit_using_subcommand drop" -l export -d 'Write the audit trail to FILE as JSON lines instead of printing it' -r -F
complete -c jit -n "__fish_jit_using_subcommand drop" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand drop" -l mine -d 'Every live lease you requested or hold'
complete -c jit -n "__fish_jit_using_subcommand drop" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand drop" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand drop" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand drop" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand drop" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand extend" -l ttl -d 'The new length, counted from now' -r
complete -c jit -n "__fish_jit_using_subcommand extend" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand extend" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand extend" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand extend" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand extend" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand extend" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand credential-process" -l role -d 'The aws assume-role role whose lease\'s credentials to print' -r
complete -c jit -n "__fish_jit_using_subcommand credential-process" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand credential-process" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand credential-process" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand credential-process" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand credential-process" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand credential-process" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand approve" -l reason -d 'Why' -r
complete -c jit -n "__fish_jit_using_subcommand approve" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand approve" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand approve" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand approve" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand approve" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand approve" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand deny" -l reason -d 'Why (required)' -r
complete -c jit -n "__fish_jit_using_subcommand deny" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand deny" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand deny" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand deny" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand deny" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand deny" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand roles" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand roles" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand roles" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand roles" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand roles" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand roles" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand sweep" -l metrics -d 'Serve Prometheus metrics on http://ADDR/metrics while watching (ADDR: IP:PORT)' -r
complete -c jit -n "__fish_jit_using_subcommand sweep" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand sweep" -l watch -d 'Keep running, waking for the next expiry'
complete -c jit -n "__fish_jit_using_subcommand sweep" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand sweep" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand sweep" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand sweep" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand sweep" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand discover" -l target -d 'Look at this target only' -r
complete -c jit -n "__fish_jit_using_subcommand discover" -l kind -d 'Report findings of this kind only' -r -f -a "standing\t'Someone holds what one of jit\'s roles hands out, outside any live lease'
admin\t'An admin-level right that makes just-in-time access moot (a superuser, say)'
no-expiry\t'A standing holding or admin right without an end on the target (no `VALID UNTIL`, no `expiry-time`)'
leftover\t'An entitlement this store made for a lease that is not live any more (after a restore, say): jit\'s own, removed on command'
unmarked\t'An entitlement named as jit names its own but carrying no store\'s mark (made by a jit before marks, or by hand): reported, never removed by jit'"
complete -c jit -n "__fish_jit_using_subcommand discover" -l adopt -d 'Remove the standing holding FINDING (an id from the list) and print the eligibility rule that makes its holder eligible instead; a leftover of jit\'s own is removed' -r
complete -c jit -n "__fish_jit_using_subcommand discover" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand discover" -l fail -d 'Exit 7 when anything is found (for a CI job)'
complete -c jit -n "__fish_jit_using_subcommand discover" -l yes -d 'Confirm --adopt'
complete -c jit -n "__fish_jit_using_subcommand discover" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand discover" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand discover" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand discover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c jit -n "__fish_jit_using_subcommand discover" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -l since -d 'Only what happened at or after this time (RFC 3339, or a duration ago such as 30d)' -r
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -l until -d 'Only what happened before this time (RFC 3339, or a duration ago)' -r
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -l role -d 'Only this role' -r
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -l subject -d 'Only this subject' -r
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -l format -d 'The report\'s format' -r -f -a "html\t''
csv\t''
json\t''"
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -l output -d 'Write to FILE instead of stdout' -r -F
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -f -a "certify" -d 'Record that an eligibility rule was reviewed and still holds'
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -f -a "revoke-eligibility" -d 'Take a subject\'s eligibility under a rule away at once, until the configuration matches'
complete -c jit -n "__fish_jit_using_subcommand review; and not __fish_seen_subcommand_from certify revoke-eligibility help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from certify" -l reason -d 'Why it still holds' -r
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from certify" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from certify" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from certify" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from certify" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from certify" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from certify" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from revoke-eligibility" -l reason -d 'Why' -r
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from revoke-eligibility" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from revoke-eligibility" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from revoke-eligibility" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from revoke-eligibility" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from revoke-eligibility" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from revoke-eligibility" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from help" -f -a "certify" -d 'Record that an eligibility rule was reviewed and still holds'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from help" -f -a "revoke-eligibility" -d 'Take a subject\'s eligibility under a rule away at once, until the configuration matches'
complete -c jit -n "__fish_jit_using_subcommand review; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -l lease -d 'Only events of this lease' -r
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -l since -d 'Only events at or after this time (RFC 3339, or a duration ago such as 2h)' -r
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -f -a "verify" -d 'Recompute the hash chain; exit 1 naming the first bad record. Prints the head as a checkpoint (SEQ:HASH) to keep elsewhere'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -f -a "export" -d 'Write every event as JSON lines or CSV'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -f -a "ship" -d 'Forward the events not yet shipped to every [[audit.ship]] destination'
complete -c jit -n "__fish_jit_using_subcommand audit; and not __fish_seen_subcommand_from verify export ship help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from verify" -l checkpoint -d 'Also prove that the chain still holds this record at this place (a checkpoint an earlier `jit audit verify` printed); exit 1 naming it if the past was rewritten or cut' -r
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from verify" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from verify" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from verify" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from export" -l format -r -f -a "jsonl\t''
csv\t''
ocsf\t''"
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from export" -l output -d 'Write to FILE instead of stdout' -r -F
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from export" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from export" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from export" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from export" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from ship" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from ship" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from ship" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from ship" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from ship" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from ship" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Recompute the hash chain; exit 1 naming the first bad record. Prints the head as a checkpoint (SEQ:HASH) to keep elsewhere'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write every event as JSON lines or CSV'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "ship" -d 'Forward the events not yet shipped to every [[audit.ship]] destination'
complete -c jit -n "__fish_jit_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand worker" -l metrics -d 'Serve Prometheus metrics on http://ADDR/metrics (ADDR: IP:PORT)' -r
complete -c jit -n "__fish_jit_using_subcommand worker" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand worker" -l once -d 'Carry out what is waiting and sweep once, then exit'
complete -c jit -n "__fish_jit_using_subcommand worker" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand worker" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand worker" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand worker" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand worker" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand store; and not __fish_seen_subcommand_from init help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand store; and not __fish_seen_subcommand_from init help" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand store; and not __fish_seen_subcommand_from init help" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand store; and not __fish_seen_subcommand_from init help" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand store; and not __fish_seen_subcommand_from init help" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand store; and not __fish_seen_subcommand_from init help" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand store; and not __fish_seen_subcommand_from init help" -f -a "init" -d 'Create the schema and the jit_requester, jit_approver and jit_worker database roles (once, as the database owner), or upgrade a schema written by an earlier jit'
complete -c jit -n "__fish_jit_using_subcommand store; and not __fish_seen_subcommand_from init help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand store; and __fish_seen_subcommand_from init" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand store; and __fish_seen_subcommand_from init" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand store; and __fish_seen_subcommand_from init" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand store; and __fish_seen_subcommand_from init" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand store; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand store; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "init" -d 'Create the schema and the jit_requester, jit_approver and jit_worker database roles (once, as the database owner), or upgrade a schema written by an earlier jit'
complete -c jit -n "__fish_jit_using_subcommand store; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand mcp" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand mcp" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand mcp" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand mcp" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand mcp" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand mcp" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -f -a "check" -d 'Validate the configuration; every error with file:line:column'
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -f -a "schema" -d 'Print the JSON Schema of the configuration file, for editors (Taplo, Even Better TOML)'
complete -c jit -n "__fish_jit_using_subcommand config; and not __fish_seen_subcommand_from check schema help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from check" -l live -d 'Also show what the next sweep would do to the live leases under this configuration and the OS groups as they are now (each lease it would revoke, shorten or cancel, with the cause), changing nothing'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from check" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from check" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from schema" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from schema" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from schema" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from schema" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from schema" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from schema" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate the configuration; every error with file:line:column'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "schema" -d 'Print the JSON Schema of the configuration file, for editors (Taplo, Even Better TOML)'
complete -c jit -n "__fish_jit_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand doctor" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand doctor" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand doctor" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand doctor" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand init" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand init" -l force -d 'Replace an existing configuration and certificate authority'
complete -c jit -n "__fish_jit_using_subcommand init" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand init" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand init" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand init" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand init" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -f -a "set" -d 'Read a secret from stdin and keep it in the keyring as NAME'
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -f -a "delete" -d 'Remove NAME from the keyring'
complete -c jit -n "__fish_jit_using_subcommand secret; and not __fish_seen_subcommand_from set delete help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from set" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from set" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from set" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from set" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from set" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from delete" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from delete" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from delete" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from delete" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "set" -d 'Read a secret from stdin and keep it in the keyring as NAME'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Remove NAME from the keyring'
complete -c jit -n "__fish_jit_using_subcommand secret; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand completions" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand completions" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand completions" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand completions" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand completions" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand completions" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand man" -l config -d 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]' -r -F
complete -c jit -n "__fish_jit_using_subcommand man" -l json -d 'Print one JSON document on stdout, and nothing else there'
complete -c jit -n "__fish_jit_using_subcommand man" -s q -l quiet -d 'Print only what scripts need'
complete -c jit -n "__fish_jit_using_subcommand man" -s v -l verbose -d 'Print diagnostics on stderr'
complete -c jit -n "__fish_jit_using_subcommand man" -s h -l help -d 'Print help'
complete -c jit -n "__fish_jit_using_subcommand man" -s V -l version -d 'Print version'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "request" -d 'Ask for a role: check policy, then grant now or wait for approval'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "exec" -d 'Grant a role, run CMD with the credentials in its environment, revoke when it ends'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "list" -d 'List leases (active and pending unless --all)'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "show" -d 'Show one lease in full, with its audit events'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "revoke" -d 'Revoke leases now and print their audit trail'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "extend" -d 'Move an active lease\'s end to now + TTL, within policy'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "credential-process" -d 'Print the AWS credentials of your live lease of a role, for `credential_process`'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "approve" -d 'Approve a pending request'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "deny" -d 'Deny a pending request'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "roles" -d 'Roles you may request, with their limits and rules'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "sweep" -d 'Revoke expired leases, retry failed revocations, reconcile interrupted grants'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "discover" -d 'Find standing privilege on the targets: access held outside any live lease'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "review" -d 'An access review for auditors; certify eligibility rules'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "audit" -d 'Read, verify, export and ship the audit trail'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "worker" -d 'Carry out a team store\'s requests: grant, hand over credentials, sweep (a service)'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "store" -d 'Set up the team store ([store] kind = "postgres")'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "mcp" -d 'Serve the Model Context Protocol on stdio: agents ask for access, a person approves'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "config" -d 'Work with the configuration'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "doctor" -d 'Check the store, every secret reference and every target'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "init" -d 'Write a starter configuration with a local SSH certificate authority'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "secret" -d 'Keep a secret in the OS keyring, for `keyring:NAME` references'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "completions" -d 'Print shell completions'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "man" -d 'Print the man page (roff)'
complete -c jit -n "__fish_jit_using_subcommand help; and not __fish_seen_subcommand_from request exec list show revoke extend credential-process approve deny roles sweep discover review audit worker store mcp config doctor init secret completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from review" -f -a "certify" -d 'Record that an eligibility rule was reviewed and still holds'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from review" -f -a "revoke-eligibility" -d 'Take a subject\'s eligibility under a rule away at once, until the configuration matches'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Recompute the hash chain; exit 1 naming the first bad record. Prints the head as a checkpoint (SEQ:HASH) to keep elsewhere'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "export" -d 'Write every event as JSON lines or CSV'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "ship" -d 'Forward the events not yet shipped to every [[audit.ship]] destination'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from store" -f -a "init" -d 'Create the schema and the jit_requester, jit_approver and jit_worker database roles (once, as the database owner), or upgrade a schema written by an earlier jit'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Validate the configuration; every error with file:line:column'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "schema" -d 'Print the JSON Schema of the configuration file, for editors (Taplo, Even Better TOML)'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from secret" -f -a "set" -d 'Read a secret from stdin and keep it in the keyring as NAME'
complete -c jit -n "__fish_jit_using_subcommand help; and __fish_seen_subcommand_from secret" -f -a "delete" -d 'Remove NAME from the keyring'
