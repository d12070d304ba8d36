//! The phases before the clock starts: check the options, create the
//! federation (PKI, configurations), check the fault schedule names real
//! nodes, start every node, import the synthetic companies, put a relay on
//! every partitioned pair, and connect every pair the workload uses.
//!
//! Owns: building the [`Ctx`] a run shares and the setup timings
//! ([`SetupReport`]). Does not own the measured run ([`super::measure`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use credex_kit::relay::UdpRelay;
use tokio_util::sync::CancellationToken;

use super::SimOptions;
use super::context::{Ctx, FaultState, Signers, Slot, Watch, start_node};
use crate::faults::{Fault, FaultKind};
use crate::federation::Federation;
use crate::malicious::MaliciousCounts;
use crate::report::SetupReport;

/// Refuse options outside what the simulator supports.
pub(super) fn check_options(opts: &SimOptions) -> anyhow::Result<()> {
    if opts.concurrency == 0 || opts.concurrency > 4096 {
        anyhow::bail!("--concurrency: expected 1–4096");
    }
    let q = opts.peer_quota;
    if !(1..=1_000_000).contains(&q.requests_per_second) || !(1..=10_000_000).contains(&q.burst) {
        anyhow::bail!(
            "--peer-rate / --peer-burst: expected 1–1,000,000 requests/s and a burst of 1–10,000,000 (the node's [limits] bounds)"
        );
    }
    if !(opts.seconds > 0.0 && opts.seconds <= 3600.0) {
        anyhow::bail!("--seconds: expected more than 0 and at most 3600");
    }
    Ok(())
}

/// The output directory, created, and where the federation lives: `--keep`
/// or a temporary directory, which the caller holds until the run ends.
pub(super) fn work_dir(opts: &SimOptions) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    match &opts.keep {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            Ok((d.clone(), None))
        }
        None => {
            let tmp = tempfile::tempdir().context("creating a temporary directory")?;
            Ok((tmp.path().to_owned(), Some(tmp)))
        }
    }
}

/// Create and start the federation in `dir` and build the shared context
/// (its clock not yet started: see [`connect_pairs`]). Relays stop on
/// `shutdown`.
pub(super) async fn federation(
    opts: &SimOptions,
    dir: &Path,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Ctx, SetupReport)> {
    let t0 = Instant::now();
    eprintln!(
        "credex-sim: creating a federation of {} nodes in {}…",
        opts.regions,
        dir.display()
    );
    let fed = tokio::task::block_in_place(|| {
        Federation::create(dir, opts.regions, opts.subjects, opts.suite)
    })?;
    let pki_s = t0.elapsed().as_secs_f64();
    let fault_nodes = fault_nodes(&fed, &opts.faults)?;

    let t1 = Instant::now();
    eprintln!("credex-sim: starting {} nodes…", fed.nodes.len());
    let (slots, signers) = start_nodes(&fed, opts).await?;
    let start_s = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    eprintln!(
        "credex-sim: importing {} synthetic companies…",
        opts.subjects
    );
    let records_imported = import_subjects(&slots).await?;
    let import_s = t2.elapsed().as_secs_f64();

    let relays = partition_relays(&opts.faults, &fault_nodes, &slots, shutdown).await?;
    let ctx = context(opts, fed, slots, signers, relays, fault_nodes)?;
    let setup = SetupReport {
        pki_s,
        start_s,
        records_imported,
        import_s,
    };
    Ok((ctx, setup))
}

/// The node indices each fault names; a malicious or revoked node must be a
/// province.
fn fault_nodes(fed: &Federation, faults: &[Fault]) -> anyhow::Result<Vec<Vec<usize>>> {
    let index_of = |name: &str| {
        fed.nodes
            .iter()
            .position(|n| n.name.as_str() == name)
            .with_context(|| {
                format!(
                    "a fault names node {name:?}, which is not in this federation ({})",
                    fed.nodes
                        .iter()
                        .map(|n| n.name.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    };
    let mut fault_nodes = Vec::new();
    for f in faults {
        let nodes = f
            .nodes()
            .into_iter()
            .map(index_of)
            .collect::<anyhow::Result<Vec<usize>>>()?;
        if matches!(
            f.kind,
            FaultKind::Malicious { .. } | FaultKind::Revoke { .. }
        ) && nodes.iter().any(|&n| fed.nodes[n].is_national())
        {
            anyhow::bail!(
                "{}: pick a province node, the national node sends only upward queries",
                f.label()
            );
        }
        fault_nodes.push(nodes);
    }
    Ok(fault_nodes)
}

/// Names this run's PostgreSQL schemas: seconds since the epoch, base 36.
fn run_id() -> String {
    let mut n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut id = String::new();
    while n > 0 {
        let d = (n % 36) as u8;
        id.insert(0, char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
        n /= 36;
    }
    id
}

/// Start every node of `fed`, one after the other, with its officers'
/// signers.
async fn start_nodes(
    fed: &Federation,
    opts: &SimOptions,
) -> anyhow::Result<(Vec<Slot>, Vec<Signers>)> {
    let run_id = run_id();
    if opts.postgres.is_some() {
        eprintln!("credex-sim: PostgreSQL schemas credex_sim_{run_id}_<node>");
    }
    let mut slots: Vec<Slot> = Vec::new();
    let mut signers = Vec::new();
    for node in &fed.nodes {
        let mut config = node
            .load_config(
                opts.postgres.as_deref(),
                &run_id,
                opts.peer_quota,
                opts.upward.is_some(),
            )
            .with_context(|| format!("configuration of {}", node.name))?;
        // The national node starts first, on an ephemeral port: the
        // provinces' reporters deliver to where it listens. (Queries go
        // over the connections the workload opens; see `connect_pairs`.)
        if let Some(national) = slots.iter().find(|s| s.node.is_national()) {
            for peer in &mut config.peers {
                if peer.region.is_national() {
                    peer.addr = national.addr();
                }
            }
        }
        signers.push(Signers {
            requester: fed.signer(node.region, "req-1")?,
            approver: fed.signer(node.region, "apv-1")?,
            portal: fed.signer(node.region, "portal")?,
        });
        let slot = Slot {
            node: node.clone(),
            addr: RwLock::new(config.listen),
            config,
            running: tokio::sync::Mutex::new(None),
            live: RwLock::new(None),
            revoked: AtomicBool::new(false),
        };
        start_node(&slot).await.map_err(anyhow::Error::msg)?;
        slots.push(slot);
    }
    Ok((slots, signers))
}

/// Import every node's synthetic companies, two nodes at a time; the
/// number of records imported.
async fn import_subjects(slots: &[Slot]) -> anyhow::Result<u64> {
    let mut imported = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    for slot in slots {
        let guard = slot.running.lock().await;
        let Some(n) = guard.as_ref() else { continue };
        let storage = n.storage().clone();
        let catalogue = n.queries().policy().catalogue().clone();
        let node = slot.node.clone();
        tasks.spawn(async move {
            crate::federation::import_subjects(&node, &storage, &catalogue).await
        });
        // Two imports at a time: the machine has few cores.
        if tasks.len() >= 2
            && let Some(r) = tasks.join_next().await
        {
            imported += r.context("import task")??;
        }
    }
    while let Some(r) = tasks.join_next().await {
        imported += r.context("import task")??;
    }
    Ok(imported)
}

/// Relays for every partitioned pair, both directions, before any dial.
async fn partition_relays(
    faults: &[Fault],
    fault_nodes: &[Vec<usize>],
    slots: &[Slot],
    shutdown: &CancellationToken,
) -> anyhow::Result<HashMap<(usize, usize), UdpRelay>> {
    let mut relays = HashMap::new();
    for (f, nodes) in faults.iter().zip(fault_nodes) {
        if let FaultKind::Partition { .. } = f.kind {
            for (from, to) in [(nodes[0], nodes[1]), (nodes[1], nodes[0])] {
                if let std::collections::hash_map::Entry::Vacant(e) = relays.entry((from, to)) {
                    e.insert(UdpRelay::start_until(slots[to].addr(), shutdown).await?);
                }
            }
        }
    }
    Ok(relays)
}

/// The shared context of a run over the started nodes.
fn context(
    opts: &SimOptions,
    fed: Federation,
    slots: Vec<Slot>,
    signers: Vec<Signers>,
    relays: HashMap<(usize, usize), UdpRelay>,
    fault_nodes: Vec<Vec<usize>>,
) -> anyhow::Result<Ctx> {
    let provinces: Vec<usize> = (0..slots.len())
        .filter(|&i| !slots[i].node.is_national())
        .collect();
    let national = (0..slots.len())
        .find(|&i| slots[i].node.is_national())
        .context("the federation has no national node")?;
    let buckets = opts.seconds.ceil() as usize + 120;
    let start = Instant::now();
    Ok(Ctx {
        fed,
        signers,
        provinces,
        national,
        mix: opts.mix,
        request_timeout: opts.request_timeout,
        conns: Mutex::new(HashMap::new()),
        in_flight: Mutex::new(HashMap::new()),
        backoff: Mutex::new(HashMap::new()),
        relays,
        faults: opts
            .faults
            .iter()
            .zip(fault_nodes)
            .map(|(f, nodes)| FaultState {
                fault: f.clone(),
                nodes,
                watch: Watch::default(),
                started_s: Mutex::new(None),
                ended_s: Mutex::new(None),
                notes: Mutex::new(Vec::new()),
            })
            .collect(),
        start,
        deadline: start + Duration::from_secs_f64(opts.seconds),
        ok_per_s: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        failed_per_s: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        answered: AtomicU64::new(0),
        leaks: AtomicU64::new(0),
        malicious: Mutex::new(MaliciousCounts::default()),
        peer_quota: opts.peer_quota,
        slots,
    })
}

/// Connect every pair the workload uses, then start the clock: the run
/// measures `opts.seconds` from now.
pub(super) async fn connect_pairs(ctx: Ctx, opts: &SimOptions) -> anyhow::Result<Arc<Ctx>> {
    let ctx = Arc::new(ctx);
    let mut pairs = Vec::new();
    for &to in &ctx.provinces {
        for from in std::iter::once(ctx.national).chain(ctx.provinces.iter().copied()) {
            if from != to {
                pairs.push((from, to));
            }
        }
    }
    eprintln!("credex-sim: connecting {} pairs of nodes…", pairs.len());
    let mut dials = tokio::task::JoinSet::new();
    for (from, to) in pairs {
        let ctx = Arc::clone(&ctx);
        dials.spawn(async move {
            let live = ctx.slots[from].live()?;
            ctx.connection(from, to, &live).await.ok()
        });
        if dials.len() >= 16 {
            let _ = dials.join_next().await;
        }
    }
    while dials.join_next().await.is_some() {}
    let start = Instant::now();
    let mut c = Arc::try_unwrap(ctx)
        .map_err(|_| anyhow::anyhow!("the workload context is still shared before the run"))?;
    c.start = start;
    c.deadline = start + Duration::from_secs_f64(opts.seconds);
    Ok(Arc::new(c))
}
