//! A peer that floods (issue 13 §5, decision 0650), through real QUIC on
//! loopback: a region over its request quota is refused with
//! `RateLimited` before anything is logged, while another region is
//! served; frames declared large and sent slowly hold no more than the
//! frame memory budget, are abandoned with a clear code, and a normal peer
//! is served meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use credex_journal::{AccessEntry, kind};
use credex_node::requester::QuerySpec;
use credex_node::service::RunningNode;
use credex_node::transport::{ClientError, PeerConnection};
use credex_protocol::query::Outcome;
use credex_protocol::{ErrorCode, Request, Response};
use credex_tests::{Federation, authorized_query, dial, import_samples, subjects, within};
use tokio::task::JoinSet;

/// A penalty query to Guangdong under the joint-punishment legal basis,
/// which Guangdong's development policy grants to Guizhou.
fn penalty_query(subject: &str) -> QuerySpec {
    credex_tests::gz_penalty_query(subject, &["decision_number", "amount"])
}

/// Guangdong's received-query entries from `region`.
async fn received_from(node: &RunningNode, region: &str) -> usize {
    let mut n = 0;
    let mut from = 0;
    loop {
        let page = node
            .storage()
            .journal_range(from, 4096)
            .await
            .expect("journal");
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        n += page
            .iter()
            .filter(|r| r.kind == kind::QUERY_RECEIVED)
            .filter_map(|r| credex_protocol::decode::<AccessEntry>(&r.body).ok())
            .filter(|e| e.requester_region.to_string() == region)
            .count();
    }
    n
}

/// What a flood got back.
#[derive(Debug, Default)]
struct Tally {
    sent: usize,
    answered: usize,
    limited: usize,
}

/// Send `request` on `conn`, `IN_FLIGHT` at a time, until `stop` is set
/// and at least `min` were sent.
async fn flood(
    conn: Arc<PeerConnection>,
    request: Request,
    min: usize,
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Tally {
    const IN_FLIGHT: usize = 32;
    let request = Arc::new(request);
    let mut tally = Tally::default();
    let mut in_flight = JoinSet::new();
    loop {
        let done = stop.load(Ordering::Relaxed) && tally.sent >= min;
        while !done && in_flight.len() < IN_FLIGHT {
            let (conn, request) = (Arc::clone(&conn), Arc::clone(&request));
            in_flight.spawn(async move { conn.request(&request).await });
            tally.sent += 1;
            sent.store(tally.sent, Ordering::Relaxed);
        }
        let Some(joined) = in_flight.join_next().await else {
            return tally;
        };
        match joined.expect("task") {
            Ok(Response::Query(_)) => tally.answered += 1,
            Err(ClientError::Refused(e)) if e.code == ErrorCode::RateLimited => {
                assert!(e.message.contains("retry in"), "{}", e.message);
                tally.limited += 1;
            }
            other => panic!("unexpected answer to the flood: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_region_is_rate_limited_before_logging_while_another_is_served() {
    const MIN_FLOOD: usize = 400;
    const BURST: u32 = 20;
    const RATE: u32 = 1;
    let fed = Federation::new();
    let mut config = fed.config("gz-1");
    config.transport.ingress.peer_requests_per_second = RATE;
    config.transport.ingress.peer_burst = BURST;
    let gz = fed.start_with(config).await;
    import_samples(&fed, &gz, "440000").await;
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;
    let subject = subjects("440000")[0].clone();

    // Chongqing sends one signed query over and over until Guizhou is done:
    // without a quota, every copy is verified and logged (a replay is
    // logged as denied).
    let flood_query = authorized_query(&fed, &cq, penalty_query(&subject));
    let flooder = Arc::new(
        within("dial", dial(&cq, &gz, "440000", "gz-1"))
            .await
            .expect("dial"),
    );
    let before = received_from(&gz, "500000").await;
    let started = Instant::now();
    let (sent, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let flooding = tokio::spawn(flood(
        flooder,
        Request::Query(Box::new(flood_query)),
        MIN_FLOOD,
        Arc::clone(&sent),
        Arc::clone(&stop),
    ));
    within("the flood starts", async {
        while sent.load(Ordering::Relaxed) < 2 * BURST as usize {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    // Guizhou, meanwhile, is served: its region's quota is its own.
    let conn = within("dial", dial(&gy, &gz, "440000", "gz-1"))
        .await
        .expect("dial");
    let trust = gy.transport().trust().current();
    for _ in 0..5 {
        let q = authorized_query(&fed, &gy, penalty_query(&subject));
        let r = within(
            "Guizhou's query",
            credex_node::requester::send(&conn, &trust, gy.storage(), &q),
        )
        .await
        .expect("Guizhou is served during the flood");
        assert_eq!(r.body.outcome, Outcome::Granted, "{:?}", r.body.reason);
    }
    stop.store(true, Ordering::Relaxed);
    let tally = within("the flood ends", flooding)
        .await
        .expect("flood task");
    let elapsed = started.elapsed();

    let logged = received_from(&gz, "500000").await - before;
    // The bucket holds BURST and gains RATE per second (the connection's
    // hello took one more), whatever the machine's speed.
    let bound = BURST as usize + (RATE as f64 * elapsed.as_secs_f64()).ceil() as usize;
    assert!(
        logged <= bound,
        "{logged} of {} flood queries logged in {elapsed:?}; at most {bound} may pass the quota",
        tally.sent
    );
    assert_eq!(
        logged, tally.answered,
        "every answered query was logged, no other"
    );
    assert_eq!(tally.answered + tally.limited, tally.sent);
    assert!(
        tally.sent >= MIN_FLOOD && tally.limited >= tally.sent - bound,
        "{tally:?}"
    );
    assert_eq!(
        received_from(&gz, "520000").await,
        5,
        "Guizhou's queries were logged"
    );
    let stats = gz.transport().ingress_stats();
    assert_eq!(stats.throttled_requests, tally.limited as u64);
    let metrics = credex_node::metrics::render(&stats.samples());
    assert!(
        metrics.contains(&format!(
            "credex_peer_throttled_total{{quota=\"requests\"}} {}",
            tally.limited
        )),
        "{metrics}"
    );
    gy.shutdown().await;
    cq.shutdown().await;
    gz.shutdown().await;
}

const MIB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_frames_hold_no_more_than_the_frame_memory_budget_and_are_abandoned() {
    const STREAMS: usize = 64;
    const SENT: usize = 160 * 1024;
    let fed = Federation::new();
    let mut config = fed.config("gz-1");
    let limits = &mut config.transport.ingress;
    limits.frame_memory_bytes = 4 * MIB;
    limits.peer_frame_memory_bytes = 2 * MIB;
    limits.peer_bytes_per_second = 1 << 30;
    // Long enough that the flood still holds its memory while Guizhou's
    // query (signature checks, a durable append) is answered.
    limits.frame_stall_timeout = Duration::from_secs(4);
    let gz = fed.start_with(config).await;
    import_samples(&fed, &gz, "440000").await;
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;

    // Chongqing opens many streams, each declaring a 1 MiB frame and
    // sending 160 KiB of it, then nothing: 10 MiB in all, more than the
    // whole budget.
    let attacker = within("dial", dial(&cq, &gz, "440000", "gz-1"))
        .await
        .expect("dial");
    let quic = attacker.quic().clone();
    let mut stalled = JoinSet::new();
    for _ in 0..STREAMS {
        let quic = quic.clone();
        stalled.spawn(async move {
            let (mut send, mut recv) = quic.open_bi().await.expect("stream");
            let mut bytes = (MIB as u32).to_be_bytes().to_vec();
            bytes.resize(4 + SENT, 0x55);
            // The node stops the stream once it gives up on the frame.
            let _ = send.write_all(&bytes).await;
            let answer = recv.read_to_end(64 * 1024).await.expect("an answer");
            assert!(answer.len() > 4, "no answer frame");
            credex_protocol::decode::<Response>(&answer[4..]).expect("a response")
        });
    }
    // Wait until the flood holds frame memory.
    within("the flood takes frame memory", async {
        while gz.transport().ingress_stats().frame_memory_in_use < MIB {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    // A normal peer is served meanwhile, with a query that is logged.
    let subject = &subjects("440000")[0];
    let q = authorized_query(&fed, &gy, penalty_query(subject));
    let conn = within("dial", dial(&gy, &gz, "440000", "gz-1"))
        .await
        .expect("dial");
    let trust = gy.transport().trust().current();
    let r = within(
        "Guizhou's query",
        credex_node::requester::send(&conn, &trust, gy.storage(), &q),
    )
    .await
    .expect("Guizhou is served while the flood holds its share");
    assert_eq!(r.body.outcome, Outcome::Granted);
    assert!(
        gz.transport().ingress_stats().frame_memory_in_use >= MIB,
        "the flood still held memory while Guizhou was served"
    );

    // Every stalled frame is abandoned with a clear code: stalled
    // (`Timeout`) or no memory came free (`Overloaded`).
    let mut codes = Vec::new();
    while let Some(joined) = within("the stalled streams' answers", stalled.join_next()).await {
        match joined.expect("task") {
            Response::Error(e) => codes.push(e.code),
            other => panic!("a stalled frame was answered {other:?}"),
        }
    }
    assert!(
        codes
            .iter()
            .all(|c| matches!(c, ErrorCode::Timeout | ErrorCode::Overloaded)),
        "{codes:?}"
    );
    let stats = gz.transport().ingress_stats();
    assert_eq!(
        (stats.frames_stalled + stats.frames_starved) as usize,
        STREAMS,
        "{stats:?}"
    );
    assert!(stats.frames_stalled > 0, "{stats:?}");
    // The frame memory never went beyond the budget, the flood's share
    // never beyond its share, and all of it came back.
    assert_eq!(stats.frame_memory_budget, 4 * MIB);
    assert!(
        stats.frame_memory_peak <= 4 * MIB,
        "peak {} bytes over a budget of {}",
        stats.frame_memory_peak,
        4 * MIB
    );
    assert!(
        stats.frame_memory_peak <= 2 * MIB + 64 * 1024,
        "the flood held more than its region's share: {stats:?}"
    );
    assert!(stats.frame_memory_peak >= MIB, "{stats:?}");
    within("frame memory given back", async {
        while gz.transport().ingress_stats().frame_memory_in_use != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    gy.shutdown().await;
    cq.shutdown().await;
    gz.shutdown().await;
}
