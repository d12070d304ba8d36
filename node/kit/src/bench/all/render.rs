//! The human table of `credex bench all`.

use super::{APPENDS_PER_QUERY, AllBenchReport};

/// The human table.
pub fn render(r: &AllBenchReport) -> String {
    let mut s = String::new();
    render_setup(&mut s, r);
    render_levels(&mut s, r);
    render_log_and_handshakes(&mut s, r);
    super::suites::render(&mut s, &r.suites);
    s
}

/// The machine, the frames, the crypto floor.
fn render_setup(s: &mut String, r: &AllBenchReport) {
    use std::fmt::Write as _;
    let m = &r.machine;
    let c = &r.crypto;
    let _ = writeln!(
        s,
        "\ncredex bench all — {} CPUs ({}), {} MiB, kernel {}, load {}",
        m.cpus, m.cpu_model, m.memory_mib, m.kernel, m.load_average
    );
    let _ = writeln!(
        s,
        "same frames for transport and credex: request {} bytes, response {} bytes; one QUIC connection",
        r.request_bytes, r.response_bytes
    );
    let _ = writeln!(
        s,
        "\ncrypto floor (ring Ed25519, 512-byte messages, {} threads): verify {:.0}/s, sign {:.0}/s per thread",
        c.threads, c.verify_per_s_one_thread, c.sign_per_s_one_thread
    );
    let _ = writeln!(
        s,
        "  every chain verified ({} verifications + {} signature): {:.0} queries/s",
        c.budget.intrinsic_verifies(),
        c.budget.signs,
        c.ceiling_qps_intrinsic
    );
    let _ = writeln!(
        s,
        "  chains cached ({} verifications + {} signature):        {:.0} queries/s",
        c.budget.message_verifies, c.budget.signs, c.ceiling_qps_cached_chains
    );
    let before_each: Vec<String> = r
        .credex
        .levels
        .iter()
        .map(|l| {
            format!(
                "{:.0} ({} in flight)",
                l.floor_qps_cached_chains, l.concurrency
            )
        })
        .collect();
    let _ = writeln!(
        s,
        "  chains cached, measured again just before each level: {} queries/s; \
         each level's ratios are to its own",
        before_each.join(", ")
    );
}

/// Transport and credex side by side per level, with the ratios.
fn render_levels(s: &mut String, r: &AllBenchReport) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "\n{:>5} | {:>11} {:>7} {:>7} | {:>9} {:>7} {:>7} {:>8} | {:>9} {:>10} {:>10} | {:>6}",
        "in",
        "transport/s",
        "p50 ms",
        "p99 ms",
        "credex/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "/transport",
        "/floor all",
        "/floor cached",
        "others"
    );
    for ratio in &r.ratios {
        let t = r
            .transport
            .iter()
            .find(|t| t.concurrency == ratio.concurrency);
        let l = r
            .credex
            .levels
            .iter()
            .find(|l| l.concurrency == ratio.concurrency);
        let (Some(t), Some(l)) = (t, l) else { continue };
        let _ = writeln!(
            s,
            "{:>5} | {:>11.0} {:>7.2} {:>7.2} | {:>9.0} {:>7.2} {:>7.2} {:>8.2} | {:>9.1}% {:>9.0}% {:>12.0}% | {:>6.2}",
            ratio.concurrency,
            t.requests_per_s,
            t.p50_ms,
            t.p99_ms,
            l.queries_per_s,
            l.p50_ms,
            l.p99_ms,
            l.p999_ms,
            100.0 * ratio.credex_over_transport,
            100.0 * ratio.credex_over_floor_all_chains,
            100.0 * ratio.credex_over_floor_cached_chains,
            l.others_busy_cores.max(t.others_busy_cores),
        );
        let outcomes: Vec<String> = l.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if outcomes.iter().any(|o| !o.starts_with("Granted")) || t.errors > 0 {
            let _ = writeln!(
                s,
                "{:>5}   (transport errors {}; credex outcomes: {})",
                "",
                t.errors,
                outcomes.join(", ")
            );
        }
    }
}

/// The log figure, the handshake figure, the legend.
fn render_log_and_handshakes(s: &mut String, r: &AllBenchReport) {
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "\nlog: {:.0} durable appends/s ({} appenders, p99 {:.2} ms) = {:.1}× the {APPENDS_PER_QUERY} appends/query of credex's best level; \
         audit verify {:.0} entries/s over {} entries",
        r.log.appends_per_second,
        r.log.concurrency,
        r.log.append_p99_ms,
        r.log_headroom,
        r.log.audit_entries_per_second,
        r.log.log_entries
    );
    let h = &r.handshakes;
    let _ = writeln!(
        s,
        "handshakes: {:.0} new mTLS connections/s ({} concurrent, p50 {:.2} ms, p99 {:.2} ms, {} errors{}) = {:.2}× credex queries/s at 1 in flight",
        h.per_s,
        h.concurrency,
        h.p50_ms,
        h.p99_ms,
        h.errors,
        h.first_error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default(),
        r.handshake_over_query_at_1
    );
    let _ = writeln!(
        s,
        "  transport: credex's Transport, mTLS with credex's verifiers, a handler that answers with a recorded response; \
         others: cores other processes kept busy"
    );
}
