//! `credex-sim`: simulate a credex federation with faults and audit it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use credex_simulator::report::PeerQuota;
use credex_simulator::{Fault, QueryMix, SimOptions};

/// Simulate a federation of credex nodes on this machine: a query workload
/// between all regions, faults on a schedule, then every log exported and
/// verified by the auditor. Exits non-zero if the audit fails, a malicious
/// query is accepted, an internal field leaks or a fault goes unobserved.
#[derive(Parser, Debug)]
#[command(name = "credex-sim", version)]
struct Args {
    /// Nodes: the national node 000000 and REGIONS-1 provinces (3–32; 32 is
    /// all 31 provincial-level regions).
    #[arg(long, default_value_t = 5)]
    regions: usize,
    /// Synthetic companies (valid USCCs) in all, spread over the provinces,
    /// each with an administrative penalty and every 4th with a tax rating.
    #[arg(long, default_value_t = 10_000)]
    subjects: u64,
    /// Measured seconds of workload.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Queries kept in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Query mix, KIND=WEIGHT: basis (penalties on a legal basis),
    /// authorized (tax ratings with the subject's authorization), overask
    /// (asks internal fields too), upward (national node's reporting).
    #[arg(long, default_value = "basis=70,authorized=15,overask=10,upward=5")]
    mix: QueryMix,
    /// A fault, KIND:NODES@START[+DURATION]: kill:gz-1@10s+5s,
    /// partition:gy-1,gz-1@20s+5s, revoke:cq-1@25s, malicious:gy-1@5s+10s.
    /// Repeatable.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<Fault>,
    /// A TOML scenario file of faults (`[[fault]] spec = "kill:gz-1@10s+5s"`).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Put every node on this PostgreSQL server, one schema per node
    /// (`scripts/postgres-setup.sh | tail -1` prints a local URL).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Directory for report.json, latency.svg, throughput.svg and the
    /// exported logs.
    #[arg(long, default_value = "credex-sim-report")]
    out: PathBuf,
    /// Keep the federation (certificates, configurations, databases) in DIR.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Seed of the workload's random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds after which a query without a verified answer counts as
    /// failed.
    #[arg(long, default_value_t = 2.0)]
    timeout: f64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Requests one region may send one node per second (every node's
    /// `[limits] peer_requests_per_second`; the node's default is 5,000).
    #[arg(long, default_value_t = PeerQuota::default().requests_per_second)]
    peer_rate: u32,
    /// Requests one region may send one node at once (`[limits]
    /// peer_burst`; the node's default is 10,000).
    #[arg(long, default_value_t = PeerQuota::default().burst)]
    peer_burst: u32,
    /// Provinces report their records upward (数据报送) to the national
    /// node while the workload runs; the report adds the national node's
    /// intake and `upward.svg`.
    #[arg(long)]
    upward: bool,
    /// With --upward: after the workload, wait at most this many seconds
    /// for the national node to hold every reported record (the run fails
    /// if it does not).
    #[arg(long, default_value_t = 900.0, value_name = "SECONDS")]
    upward_wait: f64,
    /// The federation's crypto suite: ed25519-sha256, or sm2-sm3 (SM2
    /// certificates and signatures, SM3, HMAC-SM3 pseudonyms).
    #[arg(long, default_value = "ed25519-sha256")]
    suite: credex_protocol::Suite,
}

/// The same allocator as the `credex` binary (decision 1130), so that the
/// simulated nodes run as deployed ones do.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("credex-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<bool> {
    let mut faults = args.faults;
    if let Some(path) = &args.scenario {
        faults.extend(credex_simulator::faults::load_scenario(path).map_err(anyhow::Error::msg)?);
    }
    let opts = SimOptions {
        suite: args.suite,
        regions: args.regions,
        subjects: args.subjects,
        seconds: args.seconds,
        concurrency: args.concurrency,
        mix: args.mix,
        faults,
        postgres: args.postgres,
        out: args.out,
        keep: args.keep,
        seed: args.seed,
        request_timeout: std::time::Duration::try_from_secs_f64(args.timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| anyhow::anyhow!("--timeout: expected seconds above 0"))?,
        progress: !args.quiet,
        peer_quota: PeerQuota {
            requests_per_second: args.peer_rate,
            burst: args.peer_burst,
        },
        upward: match args.upward {
            false => None,
            true => Some(
                std::time::Duration::try_from_secs_f64(args.upward_wait)
                    .map_err(|_| anyhow::anyhow!("--upward-wait: expected seconds, 0 or more"))?,
            ),
        },
    };
    let runtime = credex_node::service::runtime::build()?;
    let report = runtime.block_on(credex_simulator::run(&opts))?;
    print!("{}", credex_simulator::report::render(&report));
    let files = credex_simulator::report::write_files(&report, &opts.out)?;
    for f in files {
        println!("wrote {}", f.display());
    }
    println!("exported logs in {}", opts.out.join("logs").display());
    Ok(report.passed)
}
