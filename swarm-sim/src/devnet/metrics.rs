//! Reading one value from a node's Prometheus endpoint, with every step
//! bounded: the node is a separate process that may be slow, dead or not yet
//! listening.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The gauge counting the records in a node's directory.
pub const DIRECTORY_NODES: &str = "sotto_directory_nodes";
/// How long one scrape may take in all (connect, send, read).
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most bytes read from a metrics response; a node's whole page is a few KiB.
const MAX_RESPONSE: u64 = 256 * 1024;

/// The value of `name` on the metrics page at `addr`, or why it could not be read.
pub async fn scrape(addr: &str, name: &str) -> Result<i64, String> {
    let body = tokio::time::timeout(SCRAPE_TIMEOUT, fetch(addr))
        .await
        .map_err(|_| format!("metrics at {addr} did not answer within {SCRAPE_TIMEOUT:?}"))??;
    find(&body, name).ok_or_else(|| format!("metrics at {addr} have no {name}"))
}

async fn fetch(addr: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("metrics at {addr} unreachable ({e})"))?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| format!("metrics at {addr}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("metrics at {addr}: {e}"))?;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// The value on the line `name VALUE` (no labels), ignoring `# HELP`/`# TYPE`
/// lines and metrics whose names merely start with `name`.
pub fn find(body: &str, name: &str) -> Option<i64> {
    body.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
        let value = rest.split_whitespace().next()?;
        value.parse::<i64>().ok().or_else(|| {
            // Prometheus allows floats; a count is whole, so anything else is
            // not a value we understand.
            let f = value.parse::<f64>().ok()?;
            (f.fract() == 0.0 && f.is_finite()).then_some(f as i64)
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn finds_the_exact_metric() {
        let body = "HTTP/1.1 200 OK\r\n\r\n\
            # HELP sotto_directory_nodes Records in the directory.\n\
            # TYPE sotto_directory_nodes gauge\n\
            sotto_directory_nodes_total 99\n\
            sotto_directory_nodes 5\n";
        assert_eq!(find(body, DIRECTORY_NODES), Some(5));
        assert_eq!(
            find("sotto_directory_nodes 3.0\n", DIRECTORY_NODES),
            Some(3)
        );
        assert_eq!(find("sotto_directory_nodes 2.5\n", DIRECTORY_NODES), None);
        assert_eq!(find("sotto_directory_nodes NaN\n", DIRECTORY_NODES), None);
        assert_eq!(find("other 1\n", DIRECTORY_NODES), None);
    }

    #[tokio::test]
    async fn scrapes_a_real_http_endpoint_and_reports_a_dead_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\n\r\nsotto_directory_nodes 4\n")
                .await
                .unwrap();
        });
        assert_eq!(scrape(&addr, DIRECTORY_NODES).await, Ok(4));
        server.await.unwrap();
        // Nothing listens there any more.
        let e = scrape(&addr, DIRECTORY_NODES).await.unwrap_err();
        assert!(e.contains("unreachable"), "{e}");
    }

    #[tokio::test]
    async fn a_silent_endpoint_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Accepts (the kernel does) but never answers.
        let e = scrape(&addr, DIRECTORY_NODES).await.unwrap_err();
        assert!(e.contains("did not answer"), "{e}");
        drop(listener);
    }
}
