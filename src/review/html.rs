//! The review as one self-contained HTML page: inline CSS and a little inline script, no
//! request to anywhere (its Content-Security-Policy allows none), so it opens from a mail
//! attachment. A timeline per role is an SVG drawn here (each lease a bar from grant to end,
//! coloured by how it ended, break-glass outlined, an agent's lease outlined in dashes); the lease table is built by the page's
//! script from compact data so that it sorts and filters (`#filter=TEXT` in the address sets
//! the filter); a print style fits A4. Everything that comes from the store is escaped.

use super::{Review, ReviewLease, Summary};
use crate::lease::rfc3339;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write;

/// `text` with `& < > " '` escaped, for HTML text and quoted attribute values.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

const STYLE: &str = r#"
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d232a}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #ccd;padding-bottom:2px}
h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;margin:4px 0 12px}th,td{border:1px solid #d5d9e0;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}#leases th{cursor:pointer;user-select:none}#leases th.asc::after{content:" \25b2"}#leases th.desc::after{content:" \25bc"}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#11692b;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#667}
code{font-size:12px;word-break:break-all}
svg.timeline{width:100%;height:auto;background:#fafbfc;border:1px solid #e3e6ea}
svg text{font-size:10px;fill:#556}
rect.bar{height:6px}
.e-expired{fill:#5b7fb5}.e-revoked{fill:#2e8b57}.e-failed,.e-cancelled,.e-denied{fill:#9a9a9a}.e-live{fill:#e69500}rect.outlived{fill:#c62828;height:6px}
.legend .e-expired{background:#5b7fb5}.legend .e-revoked{background:#2e8b57}.legend .e-live{background:#e69500}.legend .e-outlived{background:#c62828}.legend .e-failed{background:#9a9a9a}
#tip{position:fixed;display:none;background:#1d232a;color:#fff;padding:3px 6px;border-radius:3px;font-size:12px;pointer-events:none}
rect.bg{stroke:#000;stroke-width:1.5px}rect.agent{stroke:#7b1fa2;stroke-width:1.5px;stroke-dasharray:3 2}
.legend span{display:inline-block;margin-right:12px}.legend i{display:inline-block;width:14px;height:8px;margin-right:4px;vertical-align:middle}
#filter{font:inherit;padding:2px 6px;width:280px}
@media print{@page{size:A4;margin:12mm}body{margin:0;font-size:9pt}#controls{display:none}h2{break-after:avoid}
table{font-size:8pt}tr,svg{break-inside:avoid}th{background:#eee !important;-webkit-print-color-adjust:exact;print-color-adjust:exact}
rect{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"#;

const SCRIPT: &str = r#"
document.addEventListener('securitypolicyviolation',function(){var b=document.body;b.dataset.blocked=(+b.dataset.blocked||0)+1});
(function(){
var D=JSON.parse(document.getElementById('lease-data').textContent),S=D.strings,B=D.base;
function s(i){return i<0?'':S[i]}
function t(e){return e==null?'':new Date(e*1000).toISOString().replace('T',' ').slice(0,19)}
function d(n){if(n==null)return'';var h=Math.floor(n/3600),m=Math.floor(n%3600/60),x=n%60;return(h?h+'h':'')+(m?m+'m':'')+((x||(!h&&!m))?x+'s':'')}
var body=document.querySelector('#leases tbody'),rows=[];
D.rows.forEach(function(r){
 var cells=[r[0],s(r[1]),s(r[2])+(r[13]>=0?' via agent '+s(r[13]):''),s(r[3]),s(r[4])+(r[5]>=0?' ('+s(r[5])+')':''),s(r[6])+(r[14]>=0?' (task: '+s(r[14])+')':''),s(r[7]),t(r[8]==null?null:B+r[8]),t(r[9]==null?null:B+r[9]),s(r[10]),d(r[11]),r[12]?'yes':''];
 var keys=[r[0],s(r[1]),cells[2],s(r[3]),s(r[4]),cells[5],s(r[7]),r[8]||0,r[9]||0,s(r[10]),r[11]==null?-1:r[11],r[12]];
 var tr=document.createElement('tr');tr.dataset.lease=r[0];
 cells.forEach(function(c,i){var td=document.createElement('td');td.textContent=c;if(i==10)td.className='n';tr.appendChild(td)});
 rows.push({tr:tr,keys:keys,text:cells.join(' ').toLowerCase()});
});
function draw(){var f=document.createDocumentFragment();rows.forEach(function(r){f.appendChild(r.tr)});body.appendChild(f)}
draw();
var input=document.getElementById('filter'),count=document.getElementById('shown');
function filter(){var q=input.value.toLowerCase(),n=0;rows.forEach(function(r){var hide=q&&r.text.indexOf(q)<0;r.tr.hidden=!!hide;if(!hide)n++});count.textContent=n+' of '+rows.length+' shown'}
input.addEventListener('input',filter);
var m=/[#&]filter=([^&]*)/.exec(location.hash);if(m)input.value=decodeURIComponent(m[1]);
filter();
var col=-1,dir=1;
document.querySelectorAll('#leases th').forEach(function(th,i){th.addEventListener('click',function(){
 dir=col==i?-dir:1;col=i;document.querySelectorAll('#leases th').forEach(function(h){h.className=''});th.className=dir>0?'asc':'desc';
 rows.sort(function(a,b){var x=a.keys[i],y=b.keys[i];return(x<y?-1:x>y?1:0)*dir});draw()})});
var tip=document.getElementById('tip');
document.querySelectorAll('svg.timeline').forEach(function(svg){
 svg.addEventListener('mousemove',function(e){var b=e.target.dataset;if(!b.start){tip.style.display='none';return}
  tip.textContent=b.lease+' '+b.role+(b.agent?' via agent '+b.agent:'')+' '+t(+b.start)+' \u2013 '+t(+b.end);tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';tip.style.display='block'});
 svg.addEventListener('mouseleave',function(){tip.style.display='none'})});
document.body.dataset.ready='yes';
document.body.dataset.loadMs=Math.round(performance.now());
})();
"#;

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| {
        rfc3339::format(&t)
            .replace('T', " ")
            .trim_end_matches('Z')
            .to_owned()
    })
    .unwrap_or_default()
}

fn opt(text: Option<&str>) -> std::borrow::Cow<'_, str> {
    escape(text.unwrap_or(""))
}

fn secs(n: Option<i64>) -> String {
    let Some(n) = n else {
        return String::new();
    };
    let (h, m, s) = (n / 3600, n % 3600 / 60, n % 60);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if s > 0 || (h == 0 && m == 0) {
        let _ = write!(out, "{s}s");
    }
    out
}

/// The bar class of how a lease ended (or that it is live).
fn ending_class(lease: &ReviewLease) -> &'static str {
    match lease.ended.as_deref() {
        None => "e-live",
        Some("expired") => "e-expired",
        Some("revoked") => "e-revoked",
        Some("failed") => "e-failed",
        Some("cancelled") => "e-cancelled",
        Some(_) => "e-denied",
    }
}

fn json_script(value: &serde_json::Value) -> String {
    // Inside <script>, `<` only appears in strings; escaped there, no `</script>` can close it.
    value.to_string().replace('<', "\\u003c")
}

/// Interned strings and rows of the lease table, as JSON the page's script reads.
fn table_data(review: &Review) -> String {
    let mut strings: Vec<String> = Vec::new();
    let mut index: HashMap<String, i64> = HashMap::new();
    let mut intern = |text: Option<&str>| -> i64 {
        let Some(text) = text else { return -1 };
        if let Some(i) = index.get(text) {
            return *i;
        }
        let i = strings.len() as i64;
        strings.push(text.to_owned());
        index.insert(text.to_owned(), i);
        i
    };
    let base = review
        .leases
        .iter()
        .map(|l| l.requested_at.timestamp())
        .min()
        .unwrap_or(0);
    let rows: Vec<serde_json::Value> = review
        .leases
        .iter()
        .map(|l| {
            serde_json::json!([
                l.id,
                intern(Some(&l.role)),
                intern(Some(&l.subject)),
                intern(Some(&l.requester)),
                intern(l.ticket.as_deref()),
                intern(l.ticket_status.as_deref()),
                intern(l.reason.as_deref()),
                intern(Some(&l.approvers.join(" "))),
                l.granted_at.map(|t| t.timestamp() - base),
                l.ended_at.map(|t| t.timestamp() - base),
                intern(Some(l.ended.as_deref().unwrap_or("live"))),
                l.duration_secs,
                u8::from(l.break_glass),
                intern(l.agent.as_ref().map(|a| a.client.as_str())),
                intern(l.agent.as_ref().map(|a| a.task.as_str())),
            ])
        })
        .collect();
    json_script(&serde_json::json!({ "base": base, "strings": strings, "rows": rows }))
}

fn summary_table(out: &mut String, first: &str, summaries: &[&Summary]) {
    let _ = write!(
        out,
        "<table><thead><tr><th>{first}</th><th>leases</th><th>granted</th><th>expired</th><th>revoked</th><th>live</th><th>break-glass</th><th>denials</th><th>failed revocations</th><th>total time</th><th>median</th></tr></thead><tbody>"
    );
    for s in summaries {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            escape(&s.name),
            s.leases,
            s.granted,
            s.expired,
            s.revoked,
            s.live,
            s.break_glass,
            s.denials,
            s.revoke_failures,
            secs(Some(s.total_secs)),
            secs(s.median_secs),
        );
    }
    out.push_str("</tbody></table>\n");
}

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 10.0;
const LANE: usize = 9;
const MAX_LANES: usize = 60;

/// One SVG per role: a bar per granted lease, packed into lanes.
fn timelines(out: &mut String, review: &Review) {
    let now = review.generated_at;
    let granted: Vec<&ReviewLease> = review
        .leases
        .iter()
        .filter(|l| l.granted_at.is_some())
        .collect();
    let start = review
        .period
        .since
        .or_else(|| granted.iter().filter_map(|l| l.granted_at).min())
        .unwrap_or(review.period.until);
    let end = review
        .period
        .until
        .max(start + chrono::TimeDelta::seconds(60));
    let span = (end - start).num_seconds().max(1) as f64;
    let x_of = |at: DateTime<Utc>| {
        let at = at.clamp(start, end);
        LEFT + (at - start).num_seconds() as f64 / span * (WIDTH - 2.0 * LEFT)
    };
    let mut by_role: BTreeMap<&str, Vec<&ReviewLease>> = BTreeMap::new();
    for lease in &granted {
        by_role.entry(&lease.role).or_default().push(lease);
    }
    if by_role.is_empty() {
        out.push_str("<p class=muted>No lease was granted in the period.</p>\n");
    }
    for (role, mut leases) in by_role {
        leases.sort_by_key(|l| l.granted_at);
        let mut lanes: Vec<DateTime<Utc>> = Vec::new();
        let mut bars = String::with_capacity(leases.len() * 150);
        for lease in &leases {
            let from = lease.granted_at.unwrap_or(start);
            let to = lease.ended_at.unwrap_or(now).max(from);
            let lane = match lanes.iter().position(|busy| *busy <= from) {
                Some(i) => i,
                None if lanes.len() < MAX_LANES => {
                    lanes.push(from);
                    lanes.len() - 1
                }
                None => lanes
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, busy)| **busy)
                    .map_or(0, |(i, _)| i),
            };
            lanes[lane] = to;
            let x = x_of(from);
            let width = (x_of(to) - x).max(1.5);
            let y = 20 + lane * LANE;
            // An agent's lease is outlined in dashes and names its client, in a title too.
            let (agent_class, agent_attr, title) = match &lease.agent {
                Some(agent) => (
                    " agent",
                    format!(" data-agent=\"{}\"", escape(&agent.client)),
                    format!(
                        "<title>{} {} via agent {}</title>",
                        escape(&lease.id),
                        escape(&lease.subject),
                        escape(&agent.client)
                    ),
                ),
                None => ("", String::new(), String::new()),
            };
            let _ = write!(
                bars,
                "<rect class=\"bar {}{}{agent_class}\" data-lease=\"{}\" data-role=\"{}\"{agent_attr} data-start=\"{}\" data-end=\"{}\" x=\"{x:.1}\" y=\"{y}\" width=\"{width:.1}\"{}",
                ending_class(lease),
                if lease.break_glass { " bg" } else { "" },
                escape(&lease.id),
                escape(&lease.role),
                from.timestamp(),
                to.timestamp(),
                if title.is_empty() {
                    "/>".to_owned()
                } else {
                    format!(">{title}</rect>")
                },
            );
            // The time the entitlement outlived its lease, over the bar's end.
            if let Some(failed) = lease.revoke_failed_at {
                let from = x_of(failed);
                let _ = writeln!(
                    bars,
                    "<rect class=outlived data-lease=\"{}\" x=\"{from:.1}\" y=\"{y}\" width=\"{:.1}\"/>",
                    escape(&lease.id),
                    (x_of(to) - from).max(1.5),
                );
            }
        }
        let height = 28 + lanes.len().max(1) * LANE;
        let _ = writeln!(
            out,
            "<h3>{role} <span class=muted>({n} lease{plural})</span></h3>\n<svg class=timeline data-role=\"{role}\" viewBox=\"0 0 {WIDTH} {height}\" role=img aria-label=\"timeline of role {role}\">",
            role = escape(role),
            n = leases.len(),
            plural = if leases.len() == 1 { "" } else { "s" },
        );
        for tick in 0..=4 {
            let at = start + chrono::TimeDelta::seconds((span * f64::from(tick) / 4.0) as i64);
            let x = x_of(at);
            let anchor = match tick {
                0 => "start",
                4 => "end",
                _ => "middle",
            };
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"14\" y2=\"{height}\" stroke=\"#dde\"/><text x=\"{x:.1}\" y=\"10\" text-anchor=\"{anchor}\">{}</text>",
                time(Some(at)),
            );
        }
        out.push_str(&bars);
        out.push_str("</svg>\n");
    }
}

/// Denials of one role, subject and rule: how many, the first, the last and its reason.
type Refusals<'a> = (u64, DateTime<Utc>, DateTime<Utc>, &'a str);

pub fn write_html(review: &Review, mut sink: impl Write) -> anyhow::Result<()> {
    let mut out = String::with_capacity(review.leases.len() * 260 + 16 * 1024);
    let period = format!(
        "{} – {}",
        review
            .period
            .since
            .map_or_else(|| "the beginning".to_owned(), |t| time(Some(t))),
        time(Some(review.period.until))
    );
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n<meta name=viewport content=\"width=device-width\">\n<title>jit access review {period}</title>\n<style>{STYLE}</style></head><body>\n<h1>Access review</h1>\n<p>Period {period} UTC{role}{subject}. Made by jit at {made} UTC.</p>",
        role = review
            .period
            .role
            .as_deref()
            .map(|r| format!(", role {}", escape(r)))
            .unwrap_or_default(),
        subject = review
            .period
            .subject
            .as_deref()
            .map(|s| format!(", subject {}", escape(s)))
            .unwrap_or_default(),
        made = time(Some(review.generated_at)),
    );

    // The chain first: what this review is evidence of.
    let chain = &review.chain;
    out.push_str("<h2>Audit chain</h2>\n<table id=chain><tbody>");
    let _ = write!(
        out,
        "<tr><th>verification</th><td>{}</td></tr><tr><th>records in the chain</th><td>{}</td></tr><tr><th>records in the period</th><td>{}</td></tr><tr><th>checkpoint at the period's end</th><td><code>{}</code></td></tr><tr><th>chain head</th><td><code>{}</code></td></tr>",
        match &chain.error {
            None => "<span class=ok>intact</span>".to_owned(),
            Some(error) => format!("<span class=bad>broken: {}</span>", escape(error)),
        },
        chain.events,
        chain.period_events,
        opt(chain.checkpoint.as_deref()),
        opt(chain.head.as_deref()),
    );
    out.push_str("</tbody></table>\n<p class=muted>Keep the checkpoint: <code>jit audit verify --checkpoint SEQ:HASH</code> later proves the records this review read are unchanged.</p>\n");

    out.push_str("<h2>Totals</h2>\n");
    summary_table(&mut out, "", &[&review.totals]);
    out.push_str("<h3>By role</h3>\n");
    summary_table(&mut out, "role", &review.roles.iter().collect::<Vec<_>>());
    out.push_str("<h3>By subject</h3>\n");
    summary_table(
        &mut out,
        "subject",
        &review.subjects.iter().collect::<Vec<_>>(),
    );

    out.push_str("<h2>Timeline</h2>\n<p class=legend><span><i class=e-expired></i>expired</span><span><i class=e-revoked></i>revoked</span><span><i class=e-live></i>live</span><span><i class=e-outlived></i>revocation failed (outlived its lease)</span><span><i class=e-failed></i>failed</span><span><i class=e-expired style=\"outline:1.5px solid #000\"></i>break-glass (outlined)</span><span><i class=e-expired style=\"outline:1.5px dashed #7b1fa2\"></i>via agent (dashed)</span></p>\n<div id=tip></div>\n");
    timelines(&mut out, review);

    out.push_str("<h2>Leases</h2>\n<p id=controls><input id=filter type=search placeholder=\"filter: any text\" aria-label=filter> <span id=shown class=muted></span></p>\n<table id=leases><thead><tr><th>lease</th><th>role</th><th>subject</th><th>requester</th><th>ticket (status)</th><th>reason</th><th>approvers</th><th>granted</th><th>ended</th><th>how it ended</th><th>duration</th><th>break-glass</th></tr></thead><tbody></tbody></table>\n<noscript><p>The lease table needs JavaScript; the CSV and JSON reviews carry the same rows.</p></noscript>\n");

    out.push_str("<h2>Denials</h2>\n");
    if review.denials.is_empty() {
        out.push_str("<p class=muted>None in the period.</p>\n");
    } else {
        // Grouped by role, subject and rule (the JSON review lists each one).
        let mut groups: BTreeMap<(&str, &str, &str), Refusals<'_>> = BTreeMap::new();
        for d in &review.denials {
            let key = (
                d.role.as_deref().unwrap_or(""),
                d.subject.as_deref().unwrap_or(""),
                d.rule.as_deref().unwrap_or("approver"),
            );
            let reason = d.reason.as_deref().unwrap_or("");
            let entry = groups.entry(key).or_insert((0, d.at, d.at, reason));
            entry.0 += 1;
            entry.1 = entry.1.min(d.at);
            if d.at >= entry.2 {
                entry.2 = d.at;
                entry.3 = reason;
            }
        }
        let _ = write!(
            out,
            "<p>{} denial{}.</p><table id=denials><thead><tr><th>role</th><th>subject</th><th>rule</th><th>denials</th><th>first</th><th>last</th><th>last reason</th></tr></thead><tbody>",
            review.denials.len(),
            if review.denials.len() == 1 { "" } else { "s" },
        );
        for ((role, subject, rule), (count, first, last, reason)) in &groups {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=n>{count}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(role),
                escape(subject),
                escape(rule),
                time(Some(*first)),
                time(Some(*last)),
                escape(reason),
            );
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str("<h2>Failed revocations</h2>\n");
    if review.revoke_failures.is_empty() {
        out.push_str("<p class=muted>None in the period.</p>\n");
    } else {
        out.push_str("<table id=revoke-failures><thead><tr><th>lease</th><th>role</th><th>subject</th><th>first failed</th><th>attempts</th><th>ended</th><th>outlived its lease by</th><th>last error</th></tr></thead><tbody>");
        for f in &review.revoke_failures {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td><td>{}</td></tr>",
                escape(&f.lease_id),
                escape(&f.role),
                escape(&f.subject),
                time(Some(f.first_failed_at)),
                f.attempts,
                if f.ended_at.is_some() {
                    time(f.ended_at)
                } else {
                    "<span class=bad>still held</span>".to_owned()
                },
                secs(f.outlived_secs),
                opt(f.last_error.as_deref()),
            );
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str("<h2>Still live</h2>\n");
    if review.live.is_empty() {
        out.push_str("<p class=muted>No lease is live.</p>\n");
    } else {
        let _ = writeln!(
            out,
            "<p id=live>{}</p>",
            review
                .live
                .iter()
                .map(|id| format!("<code>{}</code>", escape(id)))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }

    out.push_str("<h2>Standing access (jit discover)</h2>\n");
    let found = &review.discover;
    for e in &found.errors {
        let _ = writeln!(
            out,
            "<p class=bad>target {} could not be asked: {}</p>",
            escape(&e.target),
            escape(&e.text)
        );
    }
    if found.findings.is_empty() {
        out.push_str("<p class=muted>No standing access found.</p>\n");
    } else {
        out.push_str("<table id=findings><thead><tr><th>id</th><th>target</th><th>kind</th><th>holder</th><th>entitlement</th><th>role</th><th>since</th><th>what to do</th></tr></thead><tbody>");
        for f in &found.findings {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&f.id),
                escape(&f.target),
                escape(&f.kind),
                escape(&f.holder),
                escape(&f.entitlement),
                opt(f.role.as_deref()),
                time(f.since),
                escape(&f.action),
            );
        }
        out.push_str("</tbody></table>\n");
    }
    for n in &found.notes {
        let _ = writeln!(
            out,
            "<p class=muted>target {}: {}</p>",
            escape(&n.target),
            escape(&n.text)
        );
    }

    out.push_str("<h2>Eligibility rules in force</h2>\n<table id=rules><thead><tr><th>rule</th><th>subjects</th><th>may request roles</th><th>max TTL</th><th>window</th><th>expires</th><th>last certified</th></tr></thead><tbody>");
    for r in &review.eligibility {
        let _ = write!(
            out,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.name),
            if r.in_force {
                ""
            } else {
                " <span class=bad>(expired)</span>"
            },
            escape(&r.subjects.join(", ")),
            escape(&r.roles.join(", ")),
            opt(r.max_ttl.as_deref()),
            opt(r.window.as_deref()),
            time(r.expires),
            {
                let last = match (r.last_certified, &r.certified_by) {
                    (Some(at), Some(by)) => format!("{} by {}", time(Some(at)), escape(by)),
                    (Some(at), None) => time(Some(at)),
                    _ => "never".to_owned(),
                };
                if r.overdue {
                    format!("{last} <span class=bad>(overdue)</span>")
                } else {
                    last
                }
            },
        );
    }
    out.push_str("</tbody></table>\n");

    let _ = writeln!(
        out,
        "<script type=\"application/json\" id=lease-data>{}</script>\n<script>{SCRIPT}</script>\n</body></html>",
        table_data(review)
    );
    sink.write_all(out.as_bytes())?;
    sink.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape(r#"<b a="1">'x' & y</b>"#),
            "&lt;b a=&quot;1&quot;&gt;&#39;x&#39; &amp; y&lt;/b&gt;"
        );
        assert!(matches!(escape("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn script_data_cannot_close_its_element() {
        let text = json_script(&serde_json::json!(["</script><script>alert(1)</script>"]));
        assert!(!text.contains("</"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>");
    }

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(secs(Some(0)), "0s");
        assert_eq!(secs(Some(3661)), "1h1m1s");
        assert_eq!(secs(Some(600)), "10m");
        assert_eq!(secs(None), "");
    }
}
