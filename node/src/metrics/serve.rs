//! Serving `GET /metrics`: a small HTTP/1.1 responder (no HTTP crate: one
//! request per connection, a bounded request head, `Connection: close`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::sample::{SampleSource, render};
use crate::boot::StartError;

/// Largest request head read, in bytes; longer requests are refused.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Most concurrent scrapes; more connections wait to be accepted.
const MAX_CONCURRENT: usize = 16;

/// Bind `addr` and serve `GET /metrics` from `sources` until `shutdown`.
/// Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    sources: Vec<Arc<dyn SampleSource>>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<SocketAddr, StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Flow {
            flow: "metrics",
            reason: format!("metrics.listen: cannot bind {addr}: {e}"),
        })?;
    let bound = listener.local_addr().map_err(|e| StartError::Flow {
        flow: "metrics",
        reason: format!("metrics.listen: {e}"),
    })?;
    let sources = Arc::new(sources);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
    let tasks = tracker.clone();
    tracker.spawn(async move {
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = Arc::clone(&permits).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, _) = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: accept failed");
                        continue;
                    }
                },
            };
            let sources = Arc::clone(&sources);
            tasks.spawn(async move {
                if let Err(e) = answer(stream, &sources).await {
                    tracing::debug!(error = %e, "metrics: request failed");
                }
                drop(permit);
            });
        }
    });
    tracing::info!(addr = %bound, "metrics endpoint listening");
    Ok(bound)
}

/// Read one request head and answer it.
async fn answer(mut stream: TcpStream, sources: &[Arc<dyn SampleSource>]) -> std::io::Result<()> {
    let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            return respond(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return respond(&mut stream, "408 Request Timeout", "").await,
    };
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(&mut stream, "405 Method Not Allowed", "only GET\n").await;
    }
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" {
        return respond(&mut stream, "404 Not Found", "try /metrics\n").await;
    }
    let mut samples = Vec::new();
    for s in sources {
        samples.extend(s.samples().await);
    }
    respond(&mut stream, "200 OK", &render(&samples)).await
}

/// The request head up to the blank line; `None` when it is too long.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&buf) {
            return Ok(Some(String::from_utf8_lossy(&buf[..end]).into_owned()));
        }
        if buf.len() >= MAX_REQUEST_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n"))
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let content_type = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
