//! One client connection of a deployed topology: a request of R bytes, a response of S bytes
//! (sizes differ per call, so this is not the echo load generator's client). Used by the
//! services for their downstream calls and by `validate` for the entry call.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::Endpoint;
use crate::harness::wire::{self, BoxIo, HttpKind};
use crate::vocab::Mode;

/// How long one call may take before it fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection speaking one protocol.
pub(crate) enum Client {
    Tcp(BoxIo, Vec<u8>),
    Http(BoxIo, BytesMut),
    Grpc(h2::client::SendRequest<Bytes>),
}

fn io_text(e: io::Error) -> String {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => "connection closed by peer".to_string(),
        _ => e.to_string(),
    }
}

impl Client {
    /// Connects to `target` and speaks `mode`.
    pub(crate) async fn connect(mode: Mode, target: &Endpoint) -> io::Result<Client> {
        let io = wire::connect(target).await?.boxed();
        Ok(match mode {
            Mode::Tcp => Client::Tcp(io, Vec::new()),
            Mode::Http => Client::Http(io, BytesMut::with_capacity(32 * 1024)),
            Mode::Grpc => {
                let (send, conn) = h2::client::handshake(io).await.map_err(io::Error::other)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Client::Grpc(send)
            }
        })
    }

    /// Sends `request` and waits for a response of exactly `response_bytes` payload bytes.
    pub(crate) async fn call(
        &mut self,
        request: &[u8],
        response_bytes: usize,
    ) -> Result<(), String> {
        match tokio::time::timeout(CALL_TIMEOUT, self.call_inner(request, response_bytes)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no response within {} s", CALL_TIMEOUT.as_secs())),
        }
    }

    async fn call_inner(&mut self, request: &[u8], response_bytes: usize) -> Result<(), String> {
        match self {
            Client::Tcp(io, buf) => {
                io.write_all(request).await.map_err(io_text)?;
                buf.resize(response_bytes, 0);
                io.read_exact(buf).await.map_err(io_text)?;
            }
            Client::Http(io, buf) => {
                io.write_all(&wire::http_request(request))
                    .await
                    .map_err(io_text)?;
                let resp = wire::read_http(io, buf, HttpKind::Response)
                    .await
                    .map_err(io_text)?
                    .ok_or("connection closed by peer")?;
                if resp.status != Some(200) {
                    return Err(format!("http status {}", resp.status.unwrap_or(0)));
                }
                if resp.body().len() != response_bytes {
                    return Err(format!(
                        "http response of {} bytes, expected {response_bytes}",
                        resp.body().len()
                    ));
                }
            }
            Client::Grpc(send) => {
                let got = grpc_call(send, request)
                    .await
                    .map_err(|e| e.to_string())??;
                if got != response_bytes {
                    return Err(format!(
                        "grpc response of {got} bytes, expected {response_bytes}"
                    ));
                }
            }
        }
        Ok(())
    }
}

async fn grpc_call(
    send: &mut h2::client::SendRequest<Bytes>,
    request: &[u8],
) -> Result<Result<usize, String>, h2::Error> {
    let mut ready = send.clone().ready().await?;
    let head = http::Request::builder()
        .method("POST")
        .uri(format!("http://service{}", wire::GRPC_PATH))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("static request");
    let (response, mut stream) = ready.send_request(head, false)?;
    stream.send_data(wire::grpc_encode(request), true)?;
    let response = response.await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await?;
    if status != 200 {
        return Ok(Err(format!("grpc http status {status}")));
    }
    let get = |name: &str| {
        trailers
            .as_ref()
            .and_then(|t| t.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if get("grpc-status").as_deref() != Some("0") {
        return Ok(Err(format!(
            "grpc status {} {}",
            get("grpc-status").unwrap_or_else(|| "missing".into()),
            get("grpc-message").unwrap_or_default()
        )));
    }
    Ok(wire::grpc_decode(&data).map(<[u8]>::len))
}
