//! The body of `__service`: an echo-like service of a deployed topology. On each request it
//! replays its call's timeline from the fixture: local work as precise waits, each downstream
//! call at its original offset (or after its predecessors, with the original gap), the tail
//! after the last call, then a response of the fixture's size.
//!
//! A service called by several calls of the fixture (two callers, or one caller twice) has
//! one plan per call, a *route*; each request names its route: the
//! [`ROUTE_HEADER`](crate::harness::wire::ROUTE_HEADER) in http and grpc, the payload's first
//! 8 bytes (little-endian, as [`wire::payload`] writes its tag) in tcp. With one route, requests
//! need not name it.
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
use crate::harness::client::{CallError, Client, Expect};
use crate::harness::wire::{self, BoxIo, HttpKind, Listener};
use crate::vocab::Mode;

/// How long one call of a deployed topology may take before it fails.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What a service does on each request of one incoming call (its route); `__service` takes a
/// JSON array of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServicePlan {
    /// The incoming call's id in the fixture.
    pub id: String,
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
pub(crate) struct DownstreamPlan {
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
    /// The callee's route (index into its plans) this call asks for.
    pub route: u32,
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

/// Why a request of a deployed service failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServiceError {
    /// A downstream call failed.
    #[error("call `{id}` to {target}")]
    Call {
        /// The call's id in the fixture.
        id: String,
        /// Where it went.
        target: Endpoint,
        /// Why.
        #[source]
        source: CallError,
    },
    /// A downstream call's task stopped.
    #[error("wait for a downstream call")]
    Join(#[source] tokio::task::JoinError),
    /// The request names no route of the service.
    #[error("request for route {route}; this service has {routes}")]
    Route {
        /// The route asked for.
        route: u64,
        /// The routes the service has.
        routes: usize,
    },
    /// The gRPC stream failed.
    #[error("answer a grpc call")]
    Grpc(#[source] h2::Error),
}

impl ServiceError {
    /// The error and its causes on one line (for a grpc-message trailer).
    fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(&format!(": {c}"));
            cause = c.source();
        }
        text
    }
}

struct Downstream {
    plan: DownstreamPlan,
    payload: Vec<u8>,
    conn: Mutex<Option<Client>>,
}

impl Downstream {
    async fn call(&self) -> Result<Instant, ServiceError> {
        let failed = |source| ServiceError::Call {
            id: self.plan.id.clone(),
            target: self.plan.target.clone(),
            source,
        };
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            *conn = Some(
                Client::connect(self.plan.mode, &self.plan.target)
                    .await
                    .map_err(failed)?
                    .with_timeout(CALL_TIMEOUT)
                    .with_route(self.plan.route),
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
        r.map(|()| Instant::now()).map_err(failed)
    }
}

struct State {
    plan: ServicePlan,
    calls: Vec<Arc<Downstream>>,
    response: Bytes,
}

impl State {
    /// Replays the call's timeline; returns when the response is due.
    async fn handle(&self) -> Result<(), ServiceError> {
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
                            let (i, end) = done.expect("not empty").map_err(ServiceError::Join)?;
                            ends[i] = Some(end?);
                        }
                        () = wait_until(at) => {}
                    }
                }
                None => match running.join_next().await {
                    Some(done) => {
                        let (i, end) = done.map_err(ServiceError::Join)?;
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

impl State {
    fn new(plan: ServicePlan) -> State {
        let calls = plan
            .calls
            .iter()
            .map(|c| {
                Arc::new(Downstream {
                    plan: c.clone(),
                    // Tagged with the callee's route (what a tcp callee reads it from).
                    payload: wire::payload(c.request_bytes as usize, u64::from(c.route)),
                    conn: Mutex::new(None),
                })
            })
            .collect();
        let response = Bytes::from(wire::payload(plan.response_bytes as usize, 0));
        State {
            plan,
            calls,
            response,
        }
    }
}

/// Every route of a service.
struct Routes(Vec<State>);

impl Routes {
    /// The route a request names (`None`: route 0, fine while there is only one).
    fn get(&self, route: Option<u64>) -> Result<&State, ServiceError> {
        let r = route.unwrap_or(0);
        usize::try_from(r)
            .ok()
            .and_then(|r| self.0.get(r))
            .ok_or(ServiceError::Route {
                route: r,
                routes: self.0.len(),
            })
    }

    /// The tcp request size (every route's, as deploy checks).
    fn tcp_request_bytes(&self) -> usize {
        self.0.first().map_or(0, |s| s.plan.request_bytes as usize)
    }
}

/// The route of a tcp request: its first 8 bytes, little-endian (fewer when it is shorter).
fn tcp_route(request: &[u8]) -> u64 {
    let mut tag = [0u8; 8];
    let n = request.len().min(8);
    tag[..n].copy_from_slice(&request[..n]);
    u64::from_le_bytes(tag)
}

/// Serves until killed. Announces `listening on ADDR` on `announce`.
pub(crate) fn serve(
    plans: Vec<ServicePlan>,
    listen: &Endpoint,
    announce: &mut dyn Write,
) -> io::Result<()> {
    let Some(mode) = plans.first().map(|p| p.mode) else {
        return Err(io::Error::other("a service needs at least one plan"));
    };
    if plans.iter().any(|p| p.mode != mode) {
        return Err(io::Error::other("every route of a service speaks one mode"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (listener, bound) = Listener::bind(listen).await?;
        let routes = Arc::new(Routes(plans.into_iter().map(State::new).collect()));
        writeln!(announce, "listening on {bound}")?;
        announce.flush()?;
        loop {
            let stream = listener.accept().await?.boxed();
            let routes = Arc::clone(&routes);
            tokio::spawn(async move {
                if let Err(e) = serve_connection(mode, routes, stream).await {
                    // Downstream failures end the connection: the caller sees it closed.
                    let _ = writeln!(io::stderr(), "service connection ended: {e}");
                }
            });
        }
    })
}

async fn serve_connection(mode: Mode, routes: Arc<Routes>, mut io: BoxIo) -> io::Result<()> {
    let single = routes.0.len() == 1;
    match mode {
        Mode::Tcp => {
            let mut buf = vec![0u8; routes.tcp_request_bytes()];
            loop {
                match io.read_exact(&mut buf).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                }
                let state = routes
                    .get((!single).then(|| tcp_route(&buf)))
                    .map_err(io::Error::other)?;
                state
                    .handle()
                    .await
                    .map_err(|e| io::Error::other(e.chain()))?;
                io.write_all(&state.response).await?;
            }
        }
        Mode::Http => {
            let mut buf = BytesMut::with_capacity(32 * 1024);
            while let Some(req) = wire::read_http(&mut io, &mut buf, HttpKind::Request).await? {
                let state = routes
                    .get(req.route.map(u64::from))
                    .map_err(io::Error::other)?;
                state
                    .handle()
                    .await
                    .map_err(|e| io::Error::other(e.chain()))?;
                io.write_all(&wire::http_response(&state.response)).await?;
            }
            Ok(())
        }
        Mode::Grpc => {
            let mut conn = h2::server::handshake(io).await.map_err(io::Error::other)?;
            while let Some(next) = conn.accept().await {
                let (req, respond) = next.map_err(io::Error::other)?;
                let route = req
                    .headers()
                    .get(wire::ROUTE_HEADER)
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                let routes = Arc::clone(&routes);
                tokio::spawn(async move {
                    let result = match routes.get(route) {
                        Ok(state) => grpc_unary(state, req, respond).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = result {
                        let _ = writeln!(io::stderr(), "service grpc call failed: {}", e.chain());
                    }
                });
            }
            Ok(())
        }
    }
}

async fn grpc_unary(
    state: &State,
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Result<(), ServiceError> {
    let mut body = req.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(ServiceError::Grpc)?;
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
        .map_err(ServiceError::Grpc)?;
    let mut trailers = http::HeaderMap::new();
    match &outcome {
        Ok(()) => {
            send.send_data(wire::grpc_encode(&state.response), false)
                .map_err(ServiceError::Grpc)?;
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        }
        Err(e) => {
            trailers.insert("grpc-status", http::HeaderValue::from_static("14"));
            let clean: String = e
                .chain()
                .chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .collect();
            if let Ok(v) = http::HeaderValue::from_str(&clean) {
                trailers.insert("grpc-message", v);
            }
        }
    }
    send.send_trailers(trailers).map_err(ServiceError::Grpc)?;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::sidecar::builtin::test_support::{
        free_endpoint, spawn_sidecar, wait_listening,
    };

    fn start(plans: Vec<ServicePlan>) -> Endpoint {
        let listen = free_endpoint();
        let l = listen.clone();
        std::thread::spawn(move || {
            let _ = serve(plans, &l, &mut io::sink());
        });
        wait_listening(&listen);
        listen
    }

    fn leaf(mode: Mode) -> ServicePlan {
        ServicePlan {
            id: "leaf".into(),
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
        let mut b = start(vec![leaf(Mode::Grpc)]);
        for _ in 0..sidecars {
            b = spawn_sidecar(Mode::Grpc, b);
        }
        let a = start(vec![ServicePlan {
            calls: vec![DownstreamPlan {
                id: "b".into(),
                target: b,
                route: 0,
                mode: Mode::Grpc,
                request_bytes: 100,
                response_bytes: 50,
                after: vec![],
                gap_us: 100.0,
            }],
            leaf_us: 0.0,
            tail_us: 100.0,
            ..leaf(Mode::Grpc)
        }]);
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
        // The deployed shape of an in-mesh call: past the 100 requests h2 allows of empty
        // non-final DATA frames per connection.
        grpc_chain(2, 400);
    }

    /// A service with two routes (a 200 µs and a 3000 µs leaf) answers each request with the
    /// route it names, in every mode, directly and through a builtin sidecar.
    #[test]
    fn requests_pick_their_route() {
        for mode in Mode::ALL {
            let slow = ServicePlan {
                id: "slow".into(),
                leaf_us: 3000.0,
                response_bytes: 70,
                ..leaf(mode)
            };
            let fast = ServicePlan {
                leaf_us: 200.0,
                ..leaf(mode)
            };
            let direct = start(vec![fast, slow]);
            let proxied = spawn_sidecar(mode, direct.clone());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            for target in [direct, proxied] {
                rt.block_on(async {
                    for (route, bytes) in [(0u32, 50), (1, 70)] {
                        let mut c = Client::connect(mode, &target)
                            .await
                            .unwrap()
                            .with_route(route);
                        let payload = wire::payload(100, u64::from(route));
                        let mut fastest = Duration::MAX;
                        for _ in 0..5 {
                            let t = Instant::now();
                            c.call(&payload, Expect::Bytes(bytes))
                                .await
                                .unwrap_or_else(|e| panic!("{mode} route {route}: {e}"));
                            fastest = fastest.min(t.elapsed());
                        }
                        let slow = fastest >= Duration::from_micros(3000);
                        assert_eq!(slow, route == 1, "{mode} route {route}: {fastest:?}");
                    }
                });
            }
        }
    }

    #[test]
    fn a_tcp_route_is_read_from_the_first_bytes() {
        assert_eq!(tcp_route(&wire::payload(100, 3)), 3);
        assert_eq!(tcp_route(&wire::payload(2, 258)), 258);
        assert_eq!(tcp_route(&[]), 0);
    }
}
