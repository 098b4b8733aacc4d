//! The body of `__service`: an echo-like service of a deployed topology. On each request it
//! replays its call's timeline from the fixture: local work as precise waits, each downstream
//! call at its original offset (or after its predecessors, with the original gap), the tail
//! after the last call, then a response of the fixture's size.
//!
//! Downstream calls go to whatever target the plan names (the service's own outbound sidecar
//! with the mesh, the callee directly without it). One connection per downstream call, kept
//! open between requests.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::harness::Endpoint;
use crate::harness::client::{Client, Expect};
use crate::harness::wire::{self, BoxIo, HttpKind, Listener};
use crate::vocab::Mode;

/// How long one call of a deployed topology may take before it fails.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a service does on each request (passed as JSON on its command line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServicePlan {
    /// The protocol it serves.
    pub mode: Mode,
    /// Payload bytes of each request it receives (tcp has no framing of its own).
    pub request_bytes: u64,
    /// Payload bytes of each response it sends.
    pub response_bytes: u64,
    /// Local work of a service without downstream calls, µs.
    pub leaf_us: f64,
    /// Its downstream calls, in order of their original start.
    pub calls: Vec<DownstreamPlan>,
    /// Local work after the last downstream call ends, µs.
    pub tail_us: f64,
}

/// One downstream call of a [`ServicePlan`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownstreamPlan {
    /// The call's id in the fixture.
    pub id: String,
    /// Where to send it.
    pub target: Endpoint,
    /// Protocol on the wire (the callee's).
    pub mode: Mode,
    /// Request payload bytes.
    pub request_bytes: u64,
    /// Expected response payload bytes.
    pub response_bytes: u64,
    /// Indices (into `calls`) of the calls it waits for.
    pub after: Vec<usize>,
    /// Wait after the request arrived (no predecessors) or after the latest predecessor
    /// ended, µs.
    pub gap_us: f64,
}

/// Waits until `deadline` with microsecond precision: a sleep on a blocking thread for most
/// of it, a spin for the last stretch; the runtime stays free for other calls meanwhile.
async fn wait_until(deadline: Instant) {
    const SPIN: Duration = Duration::from_micros(80);
    if deadline <= Instant::now() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || {
        let now = Instant::now();
        if deadline > now + SPIN {
            std::thread::sleep(deadline - now - SPIN);
        }
        while Instant::now() < deadline {
            std::hint::spin_loop();
        }
    })
    .await;
}

fn us(v: f64) -> Duration {
    Duration::from_nanos((v.max(0.0) * 1000.0) as u64)
}

struct Downstream {
    plan: DownstreamPlan,
    payload: Vec<u8>,
    conn: Mutex<Option<Client>>,
}

impl Downstream {
    async fn call(&self) -> Result<Instant, String> {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            *conn = Some(
                Client::connect(self.plan.mode, &self.plan.target)
                    .await
                    .map_err(|e| format!("connect to {}: {e}", self.plan.target))?
                    .with_timeout(CALL_TIMEOUT),
            );
        }
        let client = conn.as_mut().expect("connected above");
        let r = client
            .call(
                &self.payload,
                Expect::Bytes(self.plan.response_bytes as usize),
            )
            .await;
        if r.is_err() {
            *conn = None;
        }
        r.map(|()| Instant::now())
            .map_err(|e| format!("call `{}` to {}: {e}", self.plan.id, self.plan.target))
    }
}

struct State {
    plan: ServicePlan,
    calls: Vec<Arc<Downstream>>,
    response: Bytes,
}

impl State {
    /// Replays the call's timeline; returns when the response is due.
    async fn handle(&self) -> Result<(), String> {
        let t0 = Instant::now();
        if self.calls.is_empty() {
            wait_until(t0 + us(self.plan.leaf_us)).await;
            return Ok(());
        }
        let n = self.calls.len();
        let mut ends: Vec<Option<Instant>> = vec![None; n];
        let mut started = vec![false; n];
        let mut running = tokio::task::JoinSet::new();
        loop {
            // The earliest start among calls whose predecessors have all ended.
            let mut next: Option<(Instant, usize)> = None;
            for (i, c) in self.calls.iter().enumerate() {
                if started[i] {
                    continue;
                }
                let pred_ends: Option<Vec<Instant>> =
                    c.plan.after.iter().map(|&p| ends[p]).collect();
                let Some(pred_ends) = pred_ends else { continue };
                let base = pred_ends.into_iter().max().unwrap_or(t0);
                let at = base + us(c.plan.gap_us);
                if next.is_none_or(|(t, _)| at < t) {
                    next = Some((at, i));
                }
            }
            match next {
                Some((at, i)) if at <= Instant::now() => {
                    started[i] = true;
                    let call = Arc::clone(&self.calls[i]);
                    running.spawn(async move { (i, call.call().await) });
                }
                Some((at, _)) => {
                    tokio::select! {
                        done = running.join_next(), if !running.is_empty() => {
                            let (i, end) = done.expect("not empty").map_err(|e| e.to_string())?;
                            ends[i] = Some(end?);
                        }
                        () = wait_until(at) => {}
                    }
                }
                None => match running.join_next().await {
                    Some(done) => {
                        let (i, end) = done.map_err(|e| e.to_string())?;
                        ends[i] = Some(end?);
                    }
                    None => break,
                },
            }
        }
        let last = ends.into_iter().flatten().max().unwrap_or(t0);
        wait_until(last + us(self.plan.tail_us)).await;
        Ok(())
    }
}

/// Serves until killed. Announces `listening on ADDR` on `announce`.
pub fn serve(plan: ServicePlan, listen: &Endpoint, announce: &mut dyn Write) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (listener, bound) = Listener::bind(listen).await?;
        let calls = plan
            .calls
            .iter()
            .enumerate()
            .map(|(seq, c)| {
                Arc::new(Downstream {
                    plan: c.clone(),
                    payload: wire::payload(c.request_bytes as usize, seq as u64),
                    conn: Mutex::new(None),
                })
            })
            .collect();
        let response = Bytes::from(wire::payload(plan.response_bytes as usize, 0));
        let state = Arc::new(State {
            plan,
            calls,
            response,
        });
        writeln!(announce, "listening on {bound}")?;
        announce.flush()?;
        loop {
            let stream = listener.accept().await?.boxed();
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                if let Err(e) = serve_connection(state, stream).await {
                    // Downstream failures end the connection: the caller sees it closed.
                    let _ = writeln!(io::stderr(), "service connection ended: {e}");
                }
            });
        }
    })
}

async fn serve_connection(state: Arc<State>, mut io: BoxIo) -> io::Result<()> {
    match state.plan.mode {
        Mode::Tcp => {
            let mut buf = vec![0u8; state.plan.request_bytes as usize];
            loop {
                match io.read_exact(&mut buf).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                }
                state.handle().await.map_err(io::Error::other)?;
                io.write_all(&state.response).await?;
            }
        }
        Mode::Http => {
            let mut buf = BytesMut::with_capacity(32 * 1024);
            while let Some(_req) = wire::read_http(&mut io, &mut buf, HttpKind::Request).await? {
                state.handle().await.map_err(io::Error::other)?;
                io.write_all(&wire::http_response(&state.response)).await?;
            }
            Ok(())
        }
        Mode::Grpc => {
            let mut conn = h2::server::handshake(io).await.map_err(io::Error::other)?;
            while let Some(next) = conn.accept().await {
                let (req, respond) = next.map_err(io::Error::other)?;
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    if let Err(e) = grpc_unary(state, req, respond).await {
                        let _ = writeln!(io::stderr(), "service grpc call failed: {e}");
                    }
                });
            }
            Ok(())
        }
    }
}

async fn grpc_unary(
    state: Arc<State>,
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Result<(), String> {
    let mut body = req.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let outcome = state.handle().await;
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("static response");
    let mut send = respond
        .send_response(response, false)
        .map_err(|e| e.to_string())?;
    let mut trailers = http::HeaderMap::new();
    match &outcome {
        Ok(()) => {
            send.send_data(wire::grpc_encode(&state.response), false)
                .map_err(|e| e.to_string())?;
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        }
        Err(message) => {
            trailers.insert("grpc-status", http::HeaderValue::from_static("14"));
            let clean: String = message
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .collect();
            if let Ok(v) = http::HeaderValue::from_str(&clean) {
                trailers.insert("grpc-message", v);
            }
        }
    }
    send.send_trailers(trailers).map_err(|e| e.to_string())?;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::sidecar::builtin::test_support::{
        free_endpoint, spawn_sidecar, wait_listening,
    };

    fn start(plan: ServicePlan) -> Endpoint {
        let listen = free_endpoint();
        let l = listen.clone();
        std::thread::spawn(move || {
            let _ = serve(plan, &l, &mut io::sink());
        });
        wait_listening(&listen);
        listen
    }

    fn leaf(mode: Mode) -> ServicePlan {
        ServicePlan {
            mode,
            request_bytes: 100,
            response_bytes: 50,
            leaf_us: 100.0,
            calls: vec![],
            tail_us: 0.0,
        }
    }

    /// `requests` requests from a client to service a, which calls b over grpc for each of
    /// them through `sidecars` chained builtin sidecars (0: directly; 2: a's outbound and b's
    /// inbound, as `validate` deploys an in-mesh call).
    fn grpc_chain(sidecars: usize, requests: usize) {
        let mut b = start(leaf(Mode::Grpc));
        for _ in 0..sidecars {
            b = spawn_sidecar(Mode::Grpc, b);
        }
        let a = start(ServicePlan {
            calls: vec![DownstreamPlan {
                id: "b".into(),
                target: b,
                mode: Mode::Grpc,
                request_bytes: 100,
                response_bytes: 50,
                after: vec![],
                gap_us: 100.0,
            }],
            leaf_us: 0.0,
            tail_us: 100.0,
            ..leaf(Mode::Grpc)
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut c = Client::connect(Mode::Grpc, &a).await.unwrap();
            let payload = wire::payload(100, 1);
            for i in 0..requests {
                c.call(&payload, Expect::Bytes(50))
                    .await
                    .unwrap_or_else(|e| panic!("{sidecars} sidecars, request {i}: {e}"));
            }
        });
    }

    #[test]
    fn grpc_downstream_calls_keep_working_past_100_requests() {
        grpc_chain(0, 250);
        grpc_chain(1, 250);
        // The deployed shape of an in-mesh call (issue 8: the 101st request was reset).
        grpc_chain(2, 400);
    }
}
