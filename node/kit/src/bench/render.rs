//! The human table of `credex bench query`: one line per concurrency
//! level, then the crypto floor and what each level's CPU cost per query
//! means for the whole machine.
//!
//! Owns: [`render`]. Does not own the figures ([`super::query`]).

use std::fmt::Write as _;

use super::query::QueryBenchReport;

/// The human table.
pub fn render(r: &QueryBenchReport) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(
        s,
        "\ncredex bench query — credex {} on {} CPUs ({}), {} MiB, load {}",
        r.version, m.cpus, m.cpu_model, m.memory_mib, m.load_average
    );
    for line in &r.setup {
        let _ = writeln!(s, "  · {line}");
    }
    let _ = writeln!(
        s,
        "\n{:>11} {:>10} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9} {:>7}  outcomes",
        "concurrency",
        "queries/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "/ceil",
        "/ceil*",
        "CPU µs/q",
        "others"
    );
    for l in &r.levels {
        let outcomes: Vec<String> = l.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            s,
            "{:>11} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>5.0}% {:>5.0}% {:>9.0} {:>7.2}  {}{}",
            l.concurrency,
            l.queries_per_s,
            l.p50_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            100.0 * l.ratio_to_ceiling_intrinsic,
            100.0 * l.ratio_to_ceiling_executed,
            l.cpu_us_per_query,
            l.others_busy_cores,
            outcomes.join(", "),
            if l.pool_exhausted {
                " (ran out of pre-built queries early)"
            } else {
                ""
            }
        );
        if let Some(e) = &l.first_error {
            let _ = writeln!(s, "{:>11} first error: {e}", "");
        }
    }
    render_crypto(&mut s, r);
    s
}

/// What makes the signatures of the suite named `suite`.
fn signatures_of(suite: &str) -> &'static str {
    match suite {
        "sm2-sm3" => "credex-gm SM2 with SM3",
        _ => "ring Ed25519",
    }
}

/// The crypto floor, the two ceilings, and what each level's CPU cost per
/// query allows the whole machine.
fn render_crypto(s: &mut String, r: &QueryBenchReport) {
    let c = &r.crypto;
    let b = &c.budget;
    let _ = writeln!(
        s,
        "\ncrypto floor ({}, {}-byte messages): verify {:.0}/s and sign {:.0}/s on one thread; \
         {:.0}/s and {:.0}/s on {} threads",
        signatures_of(&r.suite),
        c.message_bytes,
        c.verify_per_s_one_thread,
        c.sign_per_s_one_thread,
        c.verify_per_s_all_threads,
        c.sign_per_s_all_threads,
        c.threads
    );
    let _ = writeln!(
        s,
        "one query: responder {} verifications (requester and approver: leaf, region CA, signature) \
         + 1 signature; requester {} verifications (node certificate, region CA, response signature, \
         log checkpoint of the receipt)",
        b.responder_verifies, b.requester_verifies
    );
    let _ = writeln!(
        s,
        "  /ceil : ceiling {:.0} queries/s on {} cores with those {} verifications + {} signature \
         ({:.0} µs of one core per query)",
        c.ceiling_qps_intrinsic,
        c.threads,
        b.intrinsic_verifies(),
        b.signs,
        c.crypto_us_per_query_intrinsic
    );
    let _ = writeln!(
        s,
        "  /ceil*: ceiling {:.0} queries/s with the {} CRL signatures as well, had every chain \
         and its CRLs to be verified for every query ({} verifications + {} signature: {:.0} µs \
         per query; the node verifies a chain once per trust store)",
        c.ceiling_qps_executed,
        b.crl_verifies,
        b.executed_verifies(),
        b.signs,
        c.crypto_us_per_query_executed
    );
    for l in &r.levels {
        let _ = writeln!(
            s,
            "  at {:>3} concurrent: {:.0} µs CPU per query, of which the signatures with chains \
             cached ({} verifications + {} signature) about {:.0}%; \
             the whole machine at that cost: {:.0} queries/s ({:.0}% of /ceil); /ceil measured \
             again just before this level: {:.0} queries/s (this level's ratios are to it)",
            l.concurrency,
            l.cpu_us_per_query,
            b.message_verifies,
            b.signs,
            100.0 * l.crypto_share_of_cpu,
            l.cpu_bound_qps,
            if l.floor_qps_intrinsic > 0.0 {
                100.0 * l.cpu_bound_qps / l.floor_qps_intrinsic
            } else {
                0.0
            },
            l.floor_qps_intrinsic
        );
    }
    let _ = writeln!(
        s,
        "  CPU µs/q: this process's CPU time (both nodes) per query; others: cores other \
         processes kept busy meanwhile (the machine is shared)"
    );
}
