//! Crash-test child: appends to a node's storage under load and prints one
//! line per acknowledged append (`ACK <seq> <hex body>`), flushing each, so
//! the parent knows exactly what was acknowledged when it kills this process
//! with SIGKILL.

use std::io::Write;

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
                match storage.append(7, body.clone()).await {
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
