//! One client connection of the harness, in any of the three protocols: the load generator's
//! connections to the echo application, and the calls of a deployed topology (`validate`:
//! the entry call and every service's downstream calls, whose response sizes differ from
//! their request sizes).

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Endpoint;
use super::wire::{self, BoxIo, HttpKind};
use crate::vocab::Mode;

/// How long one call may take before it fails, unless [`Client::with_timeout`] says otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a response must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The request's own payload (the echo application).
    Echo,
    /// A payload of this many bytes (a deployed service).
    Bytes(usize),
}

enum Conn {
    Tcp(BoxIo, Vec<u8>),
    Http(BoxIo, BytesMut),
    Grpc(h2::client::SendRequest<Bytes>),
}

/// A connection speaking one protocol.
pub(crate) struct Client {
    conn: Conn,
    timeout: Duration,
    route: Option<u32>,
}

/// Why a call of the harness failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connection could not be opened.
    #[error("connect")]
    Connect(#[source] io::Error),
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    Closed,
    /// Reading or writing failed.
    #[error(transparent)]
    Io(io::Error),
    /// No response in time.
    #[error("no response within {0} s")]
    Timeout(u64),
    /// An http response other than 200.
    #[error("http status {status} ({body})")]
    HttpStatus {
        /// The status (0 when it had none).
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// The gRPC connection failed.
    #[error("grpc connection failed")]
    GrpcConnection(#[source] h2::Error),
    /// A gRPC stream failed.
    #[error(transparent)]
    GrpcStream(h2::Error),
    /// A gRPC response with an http status other than 200.
    #[error("grpc http status {0}")]
    GrpcHttpStatus(http::StatusCode),
    /// A gRPC response with a status other than OK.
    #[error("grpc status {status} {message}")]
    GrpcStatus {
        /// The `grpc-status` (`missing` when there was none).
        status: String,
        /// The `grpc-message`.
        message: String,
    },
    /// A gRPC response that is not an echo message.
    #[error(transparent)]
    GrpcMessage(#[from] wire::GrpcDecodeError),
    /// The echo application answered with other bytes than were sent.
    #[error("{0} echo payload differs from what was sent")]
    EchoDiffers(&'static str),
    /// A response of the wrong size.
    #[error("{mode} response of {got} bytes, expected {expected}")]
    WrongSize {
        /// The protocol.
        mode: &'static str,
        /// Its size.
        got: usize,
        /// The size asked for.
        expected: usize,
    },
    /// A task of the load generator stopped.
    #[error("a load task stopped")]
    Task(#[source] tokio::task::JoinError),
}

impl From<io::Error> for CallError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => CallError::Closed,
            _ => CallError::Io(e),
        }
    }
}

impl From<h2::Error> for CallError {
    fn from(e: h2::Error) -> Self {
        if e.is_io() || e.is_go_away() || e.is_remote() {
            CallError::GrpcConnection(e)
        } else {
            CallError::GrpcStream(e)
        }
    }
}

impl Client {
    /// Connects to `target` and speaks `mode` (gRPC: one HTTP/2 connection).
    pub(crate) async fn connect(mode: Mode, target: &Endpoint) -> Result<Client, CallError> {
        let io = wire::connect(target)
            .await
            .map_err(CallError::Connect)?
            .boxed();
        let conn = match mode {
            Mode::Tcp => Conn::Tcp(io, Vec::new()),
            Mode::Http => Conn::Http(io, BytesMut::with_capacity(32 * 1024)),
            Mode::Grpc => {
                let (send, conn) = h2::client::handshake(io)
                    .await
                    .map_err(|e| CallError::Connect(io::Error::other(e)))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Conn::Grpc(send)
            }
        };
        Ok(Client {
            conn,
            timeout: DEFAULT_TIMEOUT,
            route: None,
        })
    }

    /// A second client on the same gRPC connection (another stream in flight); `None` for
    /// tcp and http, whose connections carry one request at a time.
    pub(crate) fn another_stream(&self) -> Option<Client> {
        match &self.conn {
            Conn::Grpc(send) => Some(Client {
                conn: Conn::Grpc(send.clone()),
                timeout: self.timeout,
                route: self.route,
            }),
            Conn::Tcp(..) | Conn::Http(..) => None,
        }
    }

    /// Fails a call after `timeout`.
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Tags every request with `route` ([`wire::ROUTE_HEADER`] for http and grpc, the payload's
    /// first 8 bytes for tcp, as [`wire::payload`] writes them): which of a service's timelines
    /// it asks for.
    pub(crate) fn with_route(mut self, route: u32) -> Self {
        self.route = Some(route);
        self
    }

    /// Sends `request` and checks the response.
    pub(crate) async fn call(&mut self, request: &[u8], expect: Expect) -> Result<(), CallError> {
        match tokio::time::timeout(self.timeout, self.call_inner(request, expect)).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout(self.timeout.as_secs())),
        }
    }

    async fn call_inner(&mut self, request: &[u8], expect: Expect) -> Result<(), CallError> {
        match &mut self.conn {
            Conn::Tcp(io, buf) => {
                io.write_all(request).await?;
                buf.resize(
                    match expect {
                        Expect::Echo => request.len(),
                        Expect::Bytes(n) => n,
                    },
                    0,
                );
                io.read_exact(buf).await?;
                check("tcp", buf, request, expect)
            }
            Conn::Http(io, buf) => {
                io.write_all(&wire::http_request(request, self.route))
                    .await?;
                let resp = wire::read_http(io, buf, HttpKind::Response)
                    .await?
                    .ok_or(CallError::Closed)?;
                if resp.status != Some(200) {
                    return Err(CallError::HttpStatus {
                        status: resp.status.unwrap_or(0),
                        body: String::from_utf8_lossy(&resp.body()[..resp.body().len().min(120)])
                            .into_owned(),
                    });
                }
                check("http", resp.body(), request, expect)
            }
            Conn::Grpc(send) => {
                let body = grpc_call(send, request, self.route).await?;
                check("grpc", wire::grpc_decode(&body)?, request, expect)
            }
        }
    }
}

fn check(mode: &'static str, got: &[u8], request: &[u8], expect: Expect) -> Result<(), CallError> {
    match expect {
        Expect::Echo if got != request => Err(CallError::EchoDiffers(mode)),
        Expect::Bytes(n) if got.len() != n => Err(CallError::WrongSize {
            mode,
            got: got.len(),
            expected: n,
        }),
        _ => Ok(()),
    }
}

/// One unary call; the response body (still framed) when the status says OK.
async fn grpc_call(
    send: &mut h2::client::SendRequest<Bytes>,
    payload: &[u8],
    route: Option<u32>,
) -> Result<BytesMut, CallError> {
    let mut ready = send.clone().ready().await?;
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("http://echo{}", wire::GRPC_PATH))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(route) = route {
        request = request.header(wire::ROUTE_HEADER, route);
    }
    let request = request.body(()).expect("static request");
    let (response, mut stream) = ready.send_request(request, false)?;
    stream.send_data(wire::grpc_encode(payload), true)?;
    let response = response.await?;
    let status = response.status();
    let head_grpc_status = response.headers().get("grpc-status").cloned();
    let mut body = response.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await?;
    if status != 200 {
        return Err(CallError::GrpcHttpStatus(status));
    }
    let grpc_status = trailers
        .as_ref()
        .and_then(|t| t.get("grpc-status").cloned())
        .or(head_grpc_status);
    match grpc_status.as_ref().and_then(|v| v.to_str().ok()) {
        Some("0") => Ok(data),
        other => {
            let message = trailers
                .as_ref()
                .and_then(|t| t.get("grpc-message"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Err(CallError::GrpcStatus {
                status: other.unwrap_or("missing").to_string(),
                message: message.to_string(),
            })
        }
    }
}
