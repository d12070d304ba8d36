//! Crash-test child: appends to a node's storage under load (every fourth
//! append a claimed append, so claims, journal rows and tree hashes share
//! batches) and prints one line per acknowledged append
//! (`ACK <seq> <hex body>`), flushing each, so the parent knows exactly what
//! was acknowledged when it kills this process with SIGKILL.

use std::io::Write;

use credex_node::storage::AccessClaim;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: crash-child DB_PATH RUN"))?;
    let run: u32 = args.next().unwrap_or_default().parse().unwrap_or(0);
    let storage = credex_node::storage::Storage::open_sqlite(std::path::Path::new(&path)).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Vec<u8>)>();
    for task in 0..32u32 {
        let storage = storage.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            for n in 0u32.. {
                let body = format!("run {run} task {task} n {n}").into_bytes();
                let appended = if n % 4 == 3 {
                    let mut nonce = [0u8; 16];
                    nonce[..4].copy_from_slice(&run.to_be_bytes());
                    nonce[4..8].copy_from_slice(&task.to_be_bytes());
                    nonce[8..12].copy_from_slice(&n.to_be_bytes());
                    let claim = AccessClaim {
                        requester_region: "520000".into(),
                        nonce,
                        nonce_expires_at_unix_ms: i64::MAX,
                        authorization_use: None,
                        quota: None,
                    };
                    let claimed_body = body.clone();
                    storage
                        .append_claimed(8, claim, None, move |_| claimed_body)
                        .await
                        .map(|(seq, _)| seq)
                } else {
                    storage.append(7, body.clone()).await
                };
                match appended {
                    Ok(seq) => {
                        if tx.send((seq, body)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        eprintln!("append failed: {e}");
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    while let Some((seq, body)) = rx.recv().await {
        writeln!(out, "ACK {seq} {}", hex::encode(&body))?;
        out.flush()?;
    }
    Ok(())
}
