//! The benches' HTTP clients.
//!
//! - [`get`]: a blocking one-shot `GET` on a fresh TCP connection, for
//!   polling `/readyz` (start-up is timed with it: no async runtime to
//!   start, nothing but a socket) and scraping `/metrics`.
//! - [`Conn`]: one keep-alive HTTP/1.1 connection on hyper's client, as the
//!   Kubernetes API server and the OpenTelemetry Collector hold them; the
//!   load generators run one per concurrent request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// `GET path` on `addr` over a new connection (`Connection: close`):
/// the status code and the body. `timeout` bounds the connect and each read.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    parse_response(&response).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not an HTTP/1.1 response with a body framed by Content-Length or the end of the connection",
        )
    })
}

/// Split a whole HTTP/1.x response (read to the end of the connection)
/// into its status code and body. Chunked bodies are not supported: the
/// servers under test answer with `Content-Length`.
pub fn parse_response(bytes: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let mut body = &bytes[head_end + 4..];
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.trim().parse().ok()?;
            body = body.get(..n)?;
        }
    }
    Some((status, body.to_vec()))
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

/// A response: its status, its `Retry-After` header and its body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, as sent.
    pub retry_after: Option<String>,
    /// The whole body.
    pub body: Bytes,
}

impl Conn {
    /// Open a connection to `addr` (TCP_NODELAY, as the servers set it).
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake failed")?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes.
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            host: addr.to_string(),
        })
    }

    /// `n` connections to `addr`.
    pub async fn connect_many(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Conn>> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            conns.push(Conn::connect(addr).await?);
        }
        Ok(conns)
    }

    /// Replace this connection, broken by a transport error, with a new one
    /// to `addr`; on failure it stays as it is (the next request fails and
    /// tries again).
    pub async fn reconnect(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        *self = Conn::connect(addr).await?;
        Ok(())
    }

    /// `POST path` with `body`. An error means the connection is no longer
    /// usable: [`Conn::reconnect`].
    pub async fn post(
        &mut self,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body))?;
        self.sender.ready().await.context("the connection closed")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("the request failed")?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the response body failed")?
            .to_bytes();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw response and the status and body expected from it.
    type Case = (&'static [u8], Option<(u16, &'static [u8])>);

    #[test]
    fn parses_responses() {
        let cases: [Case; 5] = [
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nready",
                Some((200, b"ready")),
            ),
            (
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\n\r\nno\nextra",
                Some((503, b"no\n")),
            ),
            (
                b"HTTP/1.0 200 OK\r\n\r\nuntil close",
                Some((200, b"until close")),
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nready\r\n0\r\n\r\n",
                None,
            ),
            (b"SSH-2.0-OpenSSH\r\n\r\n", None),
        ];
        for (bytes, want) in cases {
            let got = parse_response(bytes);
            assert_eq!(
                got.as_ref().map(|(s, b)| (*s, b.as_slice())),
                want,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
