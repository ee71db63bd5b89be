//! A minimal keep-alive HTTP/1.1 client on hyper's connection API.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{SendRequest, handshake};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub const NDJSON: HeaderValue = HeaderValue::from_static("application/x-ndjson");
pub const CLOUDEVENT: HeaderValue = HeaderValue::from_static("application/cloudevents+json");
const GZIP: HeaderValue = HeaderValue::from_static("gzip");

/// Where to POST: parsed once from `--url`.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port` to connect to.
    pub addr: String,
    pub host_header: HeaderValue,
    /// Path (and query) of the request; `/v1/events` when the URL has none.
    pub path: Uri,
    /// The URL as shown in reports.
    pub display: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid --url {url:?}"))?;
        match uri.scheme_str() {
            None | Some("http") => {}
            Some(other) => bail!("--url: only http:// is supported, not {other}://"),
        }
        let authority = uri
            .authority()
            .with_context(|| format!("--url {url:?} needs a host, e.g. http://127.0.0.1:8080"))?;
        let port = authority.port_u16().unwrap_or(80);
        let host = authority.host();
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") | Some("/") => "/v1/events",
            Some(p) => p,
        };
        Ok(Target {
            addr: format!("{host}:{port}"),
            host_header: HeaderValue::from_str(authority.as_str()).context("--url host")?,
            path: path.parse().context("--url path")?,
            display: format!("http://{}{}", authority.as_str(), path),
        })
    }
}

/// One keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    target: Arc<Target>,
}

impl Conn {
    pub async fn connect(target: Arc<Target>) -> Result<Conn> {
        let stream = TcpStream::connect(&target.addr)
            .await
            .with_context(|| format!("connecting to {}", target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            // Errors surface on the next send_request; nothing to add here.
            let _ = conn.await;
        });
        Ok(Conn { sender, target })
    }

    /// POSTs `body`, returns the response body and the latency (µs, send to last byte
    /// of the response). Fails loudly on transport errors and non-2xx statuses.
    pub async fn post(
        &mut self,
        body: Bytes,
        content_type: &HeaderValue,
        gzip: bool,
    ) -> Result<(Bytes, u32)> {
        let mut extra = vec![(CONTENT_TYPE, content_type.clone())];
        if gzip {
            extra.push((CONTENT_ENCODING, GZIP));
        }
        self.post_with(body, extra).await
    }

    /// POSTs `body` with these headers (beside `Host`); as [`Conn::post`].
    pub async fn post_with(
        &mut self,
        body: Bytes,
        extra: Vec<(hyper::header::HeaderName, HeaderValue)>,
    ) -> Result<(Bytes, u32)> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.target.path.clone();
        let headers = req.headers_mut();
        headers.insert(HOST, self.target.host_header.clone());
        for (name, value) in extra {
            headers.insert(name, value);
        }
        self.sender
            .ready()
            .await
            .context("connection closed by the server")?;
        let start = Instant::now();
        let resp = self
            .sender
            .send_request(req)
            .await
            .with_context(|| format!("POST {}", self.target.display))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the response of POST {}", self.target.display))?
            .to_bytes();
        let latency_us = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(4000)]).into_owned();
            bail!("POST {} returned {status}: {text}", self.target.display);
        }
        Ok((body, latency_us))
    }
}

impl Conn {
    /// GETs `path` on the same host; the body of a 2xx answer.
    pub async fn get(&mut self, path: &str) -> Result<Bytes> {
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.method_mut() = Method::GET;
        *req.uri_mut() = path.parse().with_context(|| format!("path {path:?}"))?;
        req.headers_mut()
            .insert(HOST, self.target.host_header.clone());
        self.sender
            .ready()
            .await
            .context("connection closed by the server")?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the response of GET {path}"))?
            .to_bytes();
        if !status.is_success() {
            bail!(
                "GET {path} returned {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() -> Result<()> {
        let t = Target::parse("http://127.0.0.1:8080")?;
        assert_eq!(t.addr, "127.0.0.1:8080");
        assert_eq!(t.path, "/v1/events");
        assert_eq!(t.host_header, "127.0.0.1:8080");
        assert_eq!(t.display, "http://127.0.0.1:8080/v1/events");
        let t = Target::parse("http://localhost/custom/events?x=1")?;
        assert_eq!(t.addr, "localhost:80");
        assert_eq!(t.path, "/custom/events?x=1");
        assert!(Target::parse("https://example.com").is_err());
        assert!(Target::parse("/v1/events").is_err());
        Ok(())
    }
}
