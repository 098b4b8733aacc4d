//! The echo application: answers every request with its own payload.
//!
//! - `tcp`: whatever bytes arrive are written back.
//! - `http`: `POST` of s bytes, `200` with the same s bytes, keep-alive.
//! - `grpc`: unary `/meshinsight.Echo/Echo` over HTTP/2, the `bytes` field echoed.
//!
//! It runs as the hidden `__echo` subcommand in a process of its own ([`EchoServer`]), on a
//! single-threaded runtime, listening on TCP loopback and optionally a Unix domain socket.

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::process::ManagedChild;
use super::wire::{self, BoxIo, HttpKind, Listener};
use super::{Endpoint, HarnessError, Launch};
use crate::vocab::Mode;

/// A running echo application.
#[derive(Debug)]
pub struct EchoServer {
    mode: Mode,
    child: ManagedChild,
    tcp: Endpoint,
    unix: Option<Endpoint>,
}

impl EchoServer {
    /// Starts the echo application on an ephemeral loopback port, and on `unix_socket` too
    /// when given; returns once it listens.
    pub fn start(
        launch: &Launch,
        mode: Mode,
        unix_socket: Option<&Path>,
        cpus: Option<&[usize]>,
    ) -> Result<Self, HarnessError> {
        let mut cmd = launch.command(&launch.exe);
        cmd.args(["__echo", "--mode", mode.as_str(), "--listen", "127.0.0.1:0"]);
        if let Some(path) = unix_socket {
            cmd.arg("--listen").arg(format!("unix:{}", path.display()));
        }
        let mut child = ManagedChild::spawn(format!("echo application ({mode})"), cmd, cpus)?;
        let endpoints = child.read_listening(Duration::from_secs(10))?;
        let tcp = endpoints
            .iter()
            .find(|e| matches!(e, Endpoint::Tcp(_)))
            .cloned()
            .ok_or_else(|| {
                HarnessError::Config("the echo application announced no tcp port".into())
            })?;
        let unix = endpoints
            .into_iter()
            .find(|e| matches!(e, Endpoint::Unix(_)));
        Ok(EchoServer {
            mode,
            child,
            tcp,
            unix,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The protocol it speaks.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Its loopback TCP address.
    pub fn endpoint(&self) -> &Endpoint {
        &self.tcp
    }

    /// Its Unix domain socket, when it has one.
    pub fn unix_endpoint(&self) -> Option<&Endpoint> {
        self.unix.as_ref()
    }

    /// An error (with the tail of its stderr) if it has exited.
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        self.child.check_running("during the run")
    }
}

/// The body of `__echo`: serves until killed. Announces `listening on ADDR...` on `announce`.
pub fn serve(mode: Mode, listen: &[Endpoint], announce: &mut dyn Write) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut bound = Vec::new();
        let mut listeners = Vec::new();
        for endpoint in listen {
            let (l, b) = Listener::bind(endpoint).await?;
            listeners.push(l);
            bound.push(b.to_string());
        }
        writeln!(announce, "listening on {}", bound.join(" "))?;
        announce.flush()?;
        let mut tasks = tokio::task::JoinSet::new();
        for listener in listeners {
            tasks.spawn(async move {
                loop {
                    let stream = listener.accept().await?.boxed();
                    tokio::spawn(async move {
                        // A client closing its connection is not the server's problem.
                        let _ = serve_connection(mode, stream).await;
                    });
                }
                #[expect(unreachable_code, reason = "gives the async block its type")]
                io::Result::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(io::Error::other)??;
        }
        Ok(())
    })
}

async fn serve_connection(mode: Mode, mut io: BoxIo) -> io::Result<()> {
    match mode {
        Mode::Tcp => {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = io.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                io.write_all(&buf[..n]).await?;
            }
        }
        Mode::Http => {
            let mut buf = BytesMut::with_capacity(16 * 1024);
            while let Some(req) = wire::read_http(&mut io, &mut buf, HttpKind::Request).await? {
                io.write_all(&wire::http_response(req.body())).await?;
            }
            Ok(())
        }
        Mode::Grpc => serve_grpc(io).await,
    }
}

async fn serve_grpc(io: BoxIo) -> io::Result<()> {
    let mut conn = h2::server::handshake(io).await.map_err(io::Error::other)?;
    while let Some(next) = conn.accept().await {
        let (req, respond) = next.map_err(io::Error::other)?;
        tokio::spawn(async move {
            let _ = grpc_unary(req, respond).await;
        });
    }
    Ok(())
}

async fn grpc_unary(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Result<(), h2::Error> {
    let mut body = req.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("static response");
    let mut send = respond.send_response(response, false)?;
    let mut trailers = http::HeaderMap::new();
    match wire::grpc_decode(&data) {
        Ok(payload) => {
            send.send_data(wire::grpc_encode(payload), false)?;
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        }
        Err(e) => {
            trailers.insert("grpc-status", http::HeaderValue::from_static("3"));
            if let Ok(v) = http::HeaderValue::from_str(&e.to_string()) {
                trailers.insert("grpc-message", v);
            }
        }
    }
    send.send_trailers(trailers)
}
