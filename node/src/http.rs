//! The `/metrics` endpoint: a very small HTTP/1.1 server answering
//! `GET /metrics` with [`Metrics::render`] in the Prometheus text format.
//!
//! It is deliberately minimal (one request per connection, no keep-alive, no
//! body) and bounded like everything else that strangers can reach: the
//! request head is read up to [`MAX_HEAD`] bytes within [`IO_TIMEOUT`], and at
//! most [`MAX_CONNECTIONS`] are served at once, [`MAX_PER_IP`] of them for one
//! address (a slow client at one address cannot hold every slot: each holds
//! one for up to [`IO_TIMEOUT`]); more are closed at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// The most bytes of request head read.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client has to send its request, and to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// The most connections of one IP address served at once: a scraper needs one.
pub const MAX_PER_IP: usize = 4;

/// Connections being served, by address.
#[derive(Default)]
struct PerIp(std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>);

impl PerIp {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<IpAddr, usize>> {
        match self.0.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }

    /// Takes a place for `ip`, or `None` when it has its most.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut map = self.lock();
        let n = map.entry(ip).or_insert(0);
        if *n >= MAX_PER_IP {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            of: self.clone(),
            ip,
        })
    }
}

/// A place of one address, given back on drop.
struct IpSlot {
    of: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.of.lock();
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Serves `/metrics` on `addr` until `shutdown` turns true (or its sender is
/// dropped). Returns the bound address (useful with port 0) and the server task.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_ip = Arc::new(PerIp::default());
    let task = tokio::spawn(async move {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let accepted = tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    continue;
                }
                accepted = listener.accept() => accepted,
            };
            let (stream, from) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly
                    // rather than spin.
                    tracing::debug!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                // Full: closing is cheaper than queueing for a scraper that
                // will come back at its next interval anyway.
                metrics.rejected.inc("metrics_http", "busy");
                continue;
            };
            let Some(ip_slot) = per_ip.take(from.ip()) else {
                metrics.rejected.inc("metrics_http", "busy_ip");
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let _ip_slot = ip_slot;
                if let Err(e) = answer(stream, &metrics).await {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            });
        }
    });
    Ok((local, task))
}

/// Reads one request head and writes one answer.
async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let head = match tokio::time::timeout(IO_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            metrics.rejected.inc("metrics_http", "bad_request");
            return respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "bad request\n",
            )
            .await;
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            metrics.rejected.inc("metrics_http", "timeout");
            return Ok(());
        }
    };
    let mut words = head.split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    // A query string does not change what is served.
    let path = target.split('?').next().unwrap_or("");
    if method == "GET" && path == "/metrics" {
        let body = metrics.render();
        respond(&mut stream, "200 OK", "text/plain; version=0.0.4", &body).await
    } else {
        respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await
    }
}

/// Reads until the blank line ending the head; returns its first line, or
/// `None` if the head is over [`MAX_HEAD`] bytes, not text, or cut short.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut len = 0;
    loop {
        let Some(free) = buf.get_mut(len..) else {
            return Ok(None);
        };
        if free.is_empty() {
            return Ok(None);
        }
        let n = stream.read(free).await?;
        if n == 0 {
            return Ok(None);
        }
        len += n;
        let got = buf.get(..len).unwrap_or_default();
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = got.get(..end).unwrap_or_default();
            let Ok(text) = std::str::from_utf8(head) else {
                return Ok(None);
            };
            return Ok(text.lines().next().map(str::to_string));
        }
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let text = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    match tokio::time::timeout(IO_TIMEOUT, async {
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await
    })
    .await
    {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start() -> (
        SocketAddr,
        Arc<Metrics>,
        watch::Sender<bool>,
        JoinHandle<()>,
    ) {
        let metrics = Arc::new(Metrics::default());
        let (tx, rx) = watch::channel(false);
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), metrics.clone(), rx)
            .await
            .unwrap();
        (addr, metrics, tx, task)
    }

    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
            .await
            .unwrap()
            .unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_404() {
        let (addr, metrics, tx, task) = start().await;
        metrics.directory_nodes.set(42);
        let out = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(
            out.contains("Content-Type: text/plain; version=0.0.4\r\n"),
            "{out}"
        );
        assert!(out.contains("Connection: close\r\n"), "{out}");
        assert!(out.contains("\nsotto_directory_nodes 42\n"), "{out}");
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{out}"
        );

        let out = exchange(addr, b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
        let out = exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");

        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn oversized_or_garbage_heads_get_400_and_the_server_goes_on() {
        let (addr, metrics, _tx, _task) = start().await;
        // Exactly the limit without the blank line: the server reads all of
        // it (so closing sends no reset) and still has no complete head.
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD, b'a');
        let out = exchange(addr, &big).await;
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        let out = exchange(addr, b"\xff\xfe\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert_eq!(metrics.rejected.get("metrics_http", "bad_request"), 2);
        let out = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }

    /// A connection from `ip` (any 127/8 address reaches a loopback server).
    async fn connect_from(ip: &str, addr: SocketAddr) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        socket.connect(addr).await.unwrap()
    }

    #[tokio::test]
    async fn one_address_cannot_hold_every_slot() {
        let (addr, metrics, _tx, _task) = start().await;
        // Silent connections of one address, each holding a slot.
        let mut held = Vec::new();
        for _ in 0..MAX_PER_IP {
            held.push(connect_from("127.0.0.2", addr).await);
        }
        // One more from that address is closed without an answer.
        let mut extra = connect_from("127.0.0.2", addr).await;
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(30), extra.read_to_string(&mut out))
            .await
            .unwrap()
            .unwrap();
        assert!(out.is_empty(), "{out}");
        assert_eq!(metrics.rejected.get("metrics_http", "busy_ip"), 1);
        // Another address is still served meanwhile.
        let mut other = connect_from("127.0.0.3", addr).await;
        other
            .write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(30), other.read_to_string(&mut out))
            .await
            .unwrap()
            .unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        drop(held);
    }

    #[tokio::test]
    async fn stops_when_the_sender_is_dropped() {
        let (_addr, _metrics, tx, task) = start().await;
        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
    }
}
