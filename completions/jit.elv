
use builtin;
use str;

set edit:completion:arg-completer[jit] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'jit'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'jit'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand request 'Ask for a role: check policy, then grant now or wait for approval'
            cand exec 'Grant a role, run CMD with the credentials in its environment, revoke when it ends'
            cand list 'List leases (active and pending unless --all)'
            cand show 'Show one lease in full, with its audit events'
            cand revoke 'Revoke leases now and print their audit trail'
            cand drop 'Revoke leases now and print their audit trail'
            cand extend 'Move an active lease''s end to now + TTL, within policy'
            cand credential-process 'Print the AWS credentials of your live lease of a role, for `credential_process`'
            cand approve 'Approve a pending request'
            cand deny 'Deny a pending request'
            cand roles 'Roles you may request, with their limits and rules'
            cand sweep 'Revoke expired leases, retry failed revocations, reconcile interrupted grants'
            cand discover 'Find standing privilege on the targets: access held outside any live lease'
            cand review 'An access review for auditors; certify eligibility rules'
            cand audit 'Read, verify, export and ship the audit trail'
            cand worker 'Carry out a team store''s requests: grant, hand over credentials, sweep (a service)'
            cand store 'Set up the team store ([store] kind = "postgres")'
            cand mcp 'Serve the Model Context Protocol on stdio: agents ask for access, a person approves'
            cand config 'Work with the configuration'
            cand doctor 'Check the store, every secret reference and every target'
            cand init 'Write a starter configuration with a local SSH certificate authority'
            cand secret 'Keep a secret in the OS keyring, for `keyring:NAME` references'
            cand completions 'Print shell completions'
            cand man 'Print the man page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;request'= {
            cand --role 'The role to request'
            cand --ttl 'How long the lease lasts (90s, 15m, 1h30m); default: the role''s default_ttl'
            cand --ticket 'The change or incident ticket this access is for'
            cand --reason 'Why you need it'
            cand --pubkey 'The public key to certify, for ssh roles [default: ~/.ssh/id_ed25519.pub]'
            cand --out 'Where to write an ssh certificate [default: beside the key, as KEY-cert.pub]'
            cand --timeout 'How long --wait waits before giving up (exit 4)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --wait 'When approval is needed, wait for it and then grant'
            cand --dry-run 'Print the decision and the effective window with every cap; change nothing'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;exec'= {
            cand --role 'The role to request'
            cand --ttl 'How long the lease lasts (90s, 15m, 1h30m); default: the role''s default_ttl'
            cand --ticket 'The change or incident ticket this access is for'
            cand --reason 'Why you need it'
            cand --pubkey 'The public key to certify, for ssh roles [default: ~/.ssh/id_ed25519.pub]'
            cand --timeout 'When approval is needed, how long to wait for it (then exit 4)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;list'= {
            cand --state 'Only leases in this state (implies --all for final states)'
            cand --role 'Only leases of this role'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --all 'Include ended leases'
            cand --mine 'Only leases you requested or hold'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;show'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;revoke'= {
            cand --role 'Every live lease of this role that you requested or hold'
            cand --export 'Write the audit trail to FILE as JSON lines instead of printing it'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --mine 'Every live lease you requested or hold'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;drop'= {
            cand --role 'Every live lease of this role that you requested or hold'
            cand --export 'Write the audit trail to FILE as JSON lines instead of printing it'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --mine 'Every live lease you requested or hold'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;extend'= {
            cand --ttl 'The new length, counted from now'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;credential-process'= {
            cand --role 'The aws assume-role role whose lease''s credentials to print'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;approve'= {
            cand --reason 'Why'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;deny'= {
            cand --reason 'Why (required)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;roles'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;sweep'= {
            cand --metrics 'Serve Prometheus metrics on http://ADDR/metrics while watching (ADDR: IP:PORT)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --watch 'Keep running, waking for the next expiry'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;discover'= {
            cand --target 'Look at this target only'
            cand --kind 'Report findings of this kind only'
            cand --adopt 'Remove the standing holding FINDING (an id from the list) and print the eligibility rule that makes its holder eligible instead; a leftover of jit''s own is removed'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --fail 'Exit 7 when anything is found (for a CI job)'
            cand --yes 'Confirm --adopt'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;review'= {
            cand --since 'Only what happened at or after this time (RFC 3339, or a duration ago such as 30d)'
            cand --until 'Only what happened before this time (RFC 3339, or a duration ago)'
            cand --role 'Only this role'
            cand --subject 'Only this subject'
            cand --format 'The report''s format'
            cand --output 'Write to FILE instead of stdout'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand certify 'Record that an eligibility rule was reviewed and still holds'
            cand revoke-eligibility 'Take a subject''s eligibility under a rule away at once, until the configuration matches'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;review;certify'= {
            cand --reason 'Why it still holds'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;review;revoke-eligibility'= {
            cand --reason 'Why'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;review;help'= {
            cand certify 'Record that an eligibility rule was reviewed and still holds'
            cand revoke-eligibility 'Take a subject''s eligibility under a rule away at once, until the configuration matches'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;review;help;certify'= {
        }
        &'jit;review;help;revoke-eligibility'= {
        }
        &'jit;review;help;help'= {
        }
        &'jit;audit'= {
            cand --lease 'Only events of this lease'
            cand --since 'Only events at or after this time (RFC 3339, or a duration ago such as 2h)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand verify 'Recompute the hash chain; exit 1 naming the first bad record. Prints the head as a checkpoint (SEQ:HASH) to keep elsewhere'
            cand export 'Write every event as JSON lines or CSV'
            cand ship 'Forward the events not yet shipped to every [[audit.ship]] destination'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;audit;verify'= {
            cand --checkpoint 'Also prove that the chain still holds this record at this place (a checkpoint an earlier `jit audit verify` printed); exit 1 naming it if the past was rewritten or cut'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;audit;export'= {
            cand --format 'format'
            cand --output 'Write to FILE instead of stdout'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;audit;ship'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;audit;help'= {
            cand verify 'Recompute the hash chain; exit 1 naming the first bad record. Prints the head as a checkpoint (SEQ:HASH) to keep elsewhere'
            cand export 'Write every event as JSON lines or CSV'
            cand ship 'Forward the events not yet shipped to every [[audit.ship]] destination'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;audit;help;verify'= {
        }
        &'jit;audit;help;export'= {
        }
        &'jit;audit;help;ship'= {
        }
        &'jit;audit;help;help'= {
        }
        &'jit;worker'= {
            cand --metrics 'Serve Prometheus metrics on http://ADDR/metrics (ADDR: IP:PORT)'
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --once 'Carry out what is waiting and sweep once, then exit'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;store'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Create the schema and the jit_requester, jit_approver and jit_worker database roles (once, as the database owner), or upgrade a schema written by an earlier jit'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;store;init'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;store;help'= {
            cand init 'Create the schema and the jit_requester, jit_approver and jit_worker database roles (once, as the database owner), or upgrade a schema written by an earlier jit'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;store;help;init'= {
        }
        &'jit;store;help;help'= {
        }
        &'jit;mcp'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;config'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand check 'Validate the configuration; every error with file:line:column'
            cand schema 'Print the JSON Schema of the configuration file, for editors (Taplo, Even Better TOML)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;config;check'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --live 'Also show what the next sweep would do to the live leases under this configuration and the OS groups as they are now (each lease it would revoke, shorten or cancel, with the cause), changing nothing'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;config;schema'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;config;help'= {
            cand check 'Validate the configuration; every error with file:line:column'
            cand schema 'Print the JSON Schema of the configuration file, for editors (Taplo, Even Better TOML)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;config;help;check'= {
        }
        &'jit;config;help;schema'= {
        }
        &'jit;config;help;help'= {
        }
        &'jit;doctor'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;init'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --force 'Replace an existing configuration and certificate authority'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;secret'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand set 'Read a secret from stdin and keep it in the keyring as NAME'
            cand delete 'Remove NAME from the keyring'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;secret;set'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;secret;delete'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;secret;help'= {
            cand set 'Read a secret from stdin and keep it in the keyring as NAME'
            cand delete 'Remove NAME from the keyring'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;secret;help;set'= {
        }
        &'jit;secret;help;delete'= {
        }
        &'jit;secret;help;help'= {
        }
        &'jit;completions'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;man'= {
            cand --config 'Configuration file [default: $XDG_CONFIG_HOME/jit/config.toml]'
            cand --json 'Print one JSON document on stdout, and nothing else there'
            cand -q 'Print only what scripts need'
            cand --quiet 'Print only what scripts need'
            cand -v 'Print diagnostics on stderr'
            cand --verbose 'Print diagnostics on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'jit;help'= {
            cand request 'Ask for a role: check policy, then grant now or wait for approval'
            cand exec 'Grant a role, run CMD with the credentials in its environment, revoke when it ends'
            cand list 'List leases (active and pending unless --all)'
            cand show 'Show one lease in full, with its audit events'
            cand revoke 'Revoke leases now and print their audit trail'
            cand extend 'Move an active lease''s end to now + TTL, within policy'
            cand credential-process 'Print the AWS credentials of your live lease of a role, for `credential_process`'
            cand approve 'Approve a pending request'
            cand deny 'Deny a pending request'
            cand roles 'Roles you may request, with their limits and rules'
            cand sweep 'Revoke expired leases, retry failed revocations, reconcile interrupted grants'
            cand discover 'Find standing privilege on the targets: access held outside any live lease'
            cand review 'An access review for auditors; certify eligibility rules'
            cand audit 'Read, verify, export and ship the audit trail'
            cand worker 'Carry out a team store''s requests: grant, hand over credentials, sweep (a service)'
            cand store 'Set up the team store ([store] kind = "postgres")'
            cand mcp 'Serve the Model Context Protocol on stdio: agents ask for access, a person approves'
            cand config 'Work with the configuration'
            cand doctor 'Check the store, every secret reference and every target'
            cand init 'Write a starter configuration with a local SSH certificate authority'
            cand secret 'Keep a secret in the OS keyring, for `keyring:NAME` references'
            cand completions 'Print shell completions'
            cand man 'Print the man page (roff)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'jit;help;request'= {
        }
        &'jit;help;exec'= {
        }
        &'jit;help;list'= {
        }
        &'jit;help;show'= {
        }
        &'jit;help;revoke'= {
        }
        &'jit;help;extend'= {
        }
        &'jit;help;credential-process'= {
        }
        &'jit;help;approve'= {
        }
        &'jit;help;deny'= {
        }
        &'jit;help;roles'= {
        }
        &'jit;help;sweep'= {
        }
        &'jit;help;discover'= {
        }
        &'jit;help;review'= {
            cand certify 'Record that an eligibility rule was reviewed and still holds'
            cand revoke-eligibility 'Take a subject''s eligibility under a rule away at once, until the configuration matches'
        }
        &'jit;help;review;certify'= {
        }
        &'jit;help;review;revoke-eligibility'= {
        }
        &'jit;help;audit'= {
            cand verify 'Recompute the hash chain; exit 1 naming the first bad record. Prints the head as a checkpoint (SEQ:HASH) to keep elsewhere'
            cand export 'Write every event as JSON lines or CSV'
            cand ship 'Forward the events not yet shipped to every [[audit.ship]] destination'
        }
        &'jit;help;audit;verify'= {
        }
        &'jit;help;audit;export'= {
        }
        &'jit;help;audit;ship'= {
        }
        &'jit;help;worker'= {
        }
        &'jit;help;store'= {
            cand init 'Create the schema and the jit_requester, jit_approver and jit_worker database roles (once, as the database owner), or upgrade a schema written by an earlier jit'
        }
        &'jit;help;store;init'= {
        }
        &'jit;help;mcp'= {
        }
        &'jit;help;config'= {
            cand check 'Validate the configuration; every error with file:line:column'
            cand schema 'Print the JSON Schema of the configuration file, for editors (Taplo, Even Better TOML)'
        }
        &'jit;help;config;check'= {
        }
        &'jit;help;config;schema'= {
        }
        &'jit;help;doctor'= {
        }
        &'jit;help;init'= {
        }
        &'jit;help;secret'= {
            cand set 'Read a secret from stdin and keep it in the keyring as NAME'
            cand delete 'Remove NAME from the keyring'
        }
        &'jit;help;secret;set'= {
        }
        &'jit;help;secret;delete'= {
        }
        &'jit;help;completions'= {
        }
        &'jit;help;man'= {
        }
        &'jit;help;help'= {
        }
    ]
    $completions[$command]
}
