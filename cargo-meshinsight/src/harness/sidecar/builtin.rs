//! The built-in reference sidecar: one thread, one epoll event loop (a current-thread tokio
//! runtime), like one Envoy worker.
//!
//! - `tcp`: a byte relay, one upstream connection per downstream connection.
//! - `http`: each HTTP/1.1 message is parsed with httparse (head, `content-length` body) and
//!   forwarded whole; keep-alive on both sides.
//! - `grpc`: HTTP/2 on both sides with the h2 crate; each stream's headers, data and trailers
//!   are forwarded.
//!
//! Upstream over TCP or a Unix domain socket. With `--zerocopy`, writes to TCP sockets use
//! `MSG_ZEROCOPY` (completions are reaped from the error queue before a buffer is reused).
//! `--extra-work-us N` adds N µs of timed busy work per message (an injected regression).
//! `--split-writes N` issues every write in N pieces, N write syscalls (an injected structural
//! regression: lost write coalescing).
//! `--filters fault,ratelimit` puts those HTTP filters in front of every http and grpc request
//! (see [`super::filters`]).

use std::io::{self, IoSlice, Write};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::{tcp, unix};

use crate::harness::Endpoint;
use crate::harness::wire::{self, BoxIo, HttpKind, Listener, Stream};
use crate::harness::work::BusyWork;
use crate::vocab::{Filter, Mode};

use super::filters::{FilterChain, FilterSettings, http_rejection};

/// `SO_ZEROCOPY` (asm-generic/socket.h).
const SO_ZEROCOPY: libc::c_int = 60;
/// `SO_EE_ORIGIN_ZEROCOPY` (linux/errqueue.h).
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;

/// What `__sidecar` was asked to do.
#[derive(Clone, Debug)]
pub(crate) struct BuiltinOptions {
    /// Protocol.
    pub mode: Mode,
    /// Where to listen (port 0 picks one; it is announced on stdout).
    pub listen: Endpoint,
    /// The application behind the sidecar.
    pub upstream: Endpoint,
    /// Write to TCP sockets with `MSG_ZEROCOPY`.
    pub zerocopy: bool,
    /// Calibrated busy work per message, µs.
    pub extra_work_us: u64,
    /// Write syscalls per write (at least 1; 1: each write in one piece).
    pub split_writes: usize,
    /// Abort (SIGABRT) after this many messages: a crash for tests.
    pub crash_after: Option<u64>,
    /// HTTP filters, in order (http and grpc modes).
    pub filters: Vec<Filter>,
    /// Their settings.
    pub filter_settings: FilterSettings,
}

struct Shared {
    work: BusyWork,
    crash_after: Option<u64>,
    messages: AtomicU64,
    zerocopy: bool,
    split_writes: usize,
    filters: FilterChain,
}

impl Shared {
    fn on_message(&self) {
        self.work.run();
        let n = self.messages.fetch_add(1, Ordering::Relaxed) + 1;
        if self.crash_after.is_some_and(|limit| n >= limit) {
            let _ = writeln!(
                io::stderr(),
                "builtin sidecar: injected crash after {n} messages"
            );
            std::process::abort();
        }
    }
}

/// The body of `__sidecar`: serves until killed. Announces `listening on ADDR` on `announce`.
pub(crate) fn serve(opts: &BuiltinOptions, announce: &mut dyn Write) -> io::Result<()> {
    if opts.zerocopy && opts.mode == Mode::Grpc {
        return Err(io::Error::other("--zerocopy needs the tcp or http mode"));
    }
    if !opts.filters.is_empty() && opts.mode == Mode::Tcp {
        return Err(io::Error::other("filters need the http or grpc mode"));
    }
    let filters =
        FilterChain::new(&opts.filters, &opts.filter_settings).map_err(io::Error::other)?;
    let shared = Arc::new(Shared {
        work: BusyWork::new(opts.extra_work_us),
        crash_after: opts.crash_after,
        messages: AtomicU64::new(0),
        zerocopy: opts.zerocopy,
        split_writes: opts.split_writes.max(1),
        filters,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (listener, bound) = Listener::bind(&opts.listen).await?;
        writeln!(announce, "listening on {bound}")?;
        announce.flush()?;
        loop {
            let down = listener.accept().await?;
            let (mode, upstream, shared) = (opts.mode, opts.upstream.clone(), shared.clone());
            tokio::spawn(async move {
                let result = async {
                    let up = wire::connect(&upstream).await?;
                    match mode {
                        Mode::Tcp => relay_tcp(down, up, &shared).await,
                        Mode::Http => relay_http(down, up, &shared).await,
                        Mode::Grpc => relay_grpc(down, up, shared).await,
                    }
                }
                .await;
                if let Err(e) = result
                    && !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset
                            | io::ErrorKind::BrokenPipe
                            | io::ErrorKind::UnexpectedEof
                    )
                {
                    let _ = writeln!(io::stderr(), "builtin sidecar: connection failed: {e}");
                }
            });
        }
    })
}

enum ReadHalf {
    Tcp(tcp::OwnedReadHalf),
    Unix(unix::OwnedReadHalf),
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Unix(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

#[derive(Default)]
struct ZeroCopy {
    sent: u64,
    completed: u64,
}

enum Socket {
    Tcp(tcp::OwnedWriteHalf, Option<ZeroCopy>),
    Unix(unix::OwnedWriteHalf),
}

/// The writing half of a connection: each write goes out in `pieces` write syscalls.
struct WriteHalf {
    socket: Socket,
    pieces: usize,
}

/// The length of the pieces a write of `len` bytes is issued in: `pieces` nearly equal parts
/// (fewer when `len` has fewer bytes than that).
fn piece_len(len: usize, pieces: usize) -> usize {
    len.div_ceil(pieces.max(1)).max(1)
}

fn split(stream: Stream, shared: &Shared) -> io::Result<(ReadHalf, WriteHalf)> {
    let (read, socket) = split_socket(stream, shared.zerocopy)?;
    let write = WriteHalf {
        socket,
        pieces: shared.split_writes,
    };
    Ok((read, write))
}

fn split_socket(stream: Stream, zerocopy: bool) -> io::Result<(ReadHalf, Socket)> {
    Ok(match stream {
        Stream::Tcp(s) => {
            let zc = if zerocopy {
                let one: libc::c_int = 1;
                // SAFETY: setsockopt reads an int of the given size from a live local.
                let rc = unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::SOL_SOCKET,
                        SO_ZEROCOPY,
                        (&one as *const libc::c_int).cast(),
                        size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
                Some(ZeroCopy::default())
            } else {
                None
            };
            let (r, w) = s.into_split();
            (ReadHalf::Tcp(r), Socket::Tcp(w, zc))
        }
        Stream::Unix(s) => {
            let (r, w) = s.into_split();
            (ReadHalf::Unix(r), Socket::Unix(w))
        }
    })
}

impl WriteHalf {
    async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        for piece in buf.chunks(piece_len(buf.len(), self.pieces)) {
            match &mut self.socket {
                Socket::Tcp(w, None) => w.write_all(piece).await?,
                Socket::Tcp(w, Some(zc)) => send_zerocopy(w.as_ref(), piece, zc).await?,
                Socket::Unix(w) => w.write_all(piece).await?,
            }
        }
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match &mut self.socket {
            Socket::Tcp(w, _) => w.shutdown().await,
            Socket::Unix(w) => w.shutdown().await,
        }
    }
}

/// A connection whose every write (plain or vectored) is issued in `pieces` writes of the
/// connection beneath: the HTTP/2 side, whose writes h2 makes.
struct SplitWrites {
    inner: BoxIo,
    pieces: usize,
}

impl SplitWrites {
    /// `stream`, its writes split in `pieces` when that is more than one.
    fn boxed(stream: Stream, pieces: usize) -> BoxIo {
        if pieces > 1 {
            Box::new(SplitWrites {
                inner: stream.boxed(),
                pieces,
            })
        } else {
            stream.boxed()
        }
    }

    /// Writes `total` bytes in pieces with `write_piece(offset, len)`, one after the other,
    /// until one is not ready: what was written by then, as one write.
    fn poll_pieces(
        total: usize,
        pieces: usize,
        mut write_piece: impl FnMut(usize, usize) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let piece = piece_len(total, pieces);
        let mut written = 0;
        while written < total {
            match write_piece(written, piece.min(total - written)) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) if written == 0 => return Poll::Ready(Err(e)),
                Poll::Pending if written == 0 => return Poll::Pending,
                Poll::Ready(Err(_)) | Poll::Pending => break,
            }
        }
        Poll::Ready(Ok(written))
    }
}

/// The slices of `bufs` that cover the bytes `offset .. offset + len` of their concatenation.
fn window<'a>(bufs: &'a [IoSlice<'a>], offset: usize, len: usize) -> Vec<IoSlice<'a>> {
    let (mut skip, mut left) = (offset, len);
    let mut out = Vec::new();
    for buf in bufs {
        if left == 0 {
            break;
        }
        if skip >= buf.len() {
            skip -= buf.len();
            continue;
        }
        let take = (buf.len() - skip).min(left);
        out.push(IoSlice::new(&buf[skip..skip + take]));
        left -= take;
        skip = 0;
    }
    out
}

impl AsyncRead for SplitWrites {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SplitWrites {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        SplitWrites::poll_pieces(buf.len(), this.pieces, |offset, len| {
            Pin::new(&mut this.inner).poll_write(cx, &buf[offset..offset + len])
        })
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let total = bufs.iter().map(|b| b.len()).sum();
        SplitWrites::poll_pieces(total, this.pieces, |offset, len| {
            Pin::new(&mut this.inner).poll_write_vectored(cx, &window(bufs, offset, len))
        })
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Writes `buf` with `MSG_ZEROCOPY` and waits until the kernel released it.
async fn send_zerocopy(
    sock: &tokio::net::TcpStream,
    buf: &[u8],
    zc: &mut ZeroCopy,
) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    let mut off = 0;
    while off < buf.len() {
        sock.writable().await?;
        let rest = &buf[off..];
        let sent = sock.try_io(Interest::WRITABLE, || {
            // SAFETY: sends from a live slice of the given length.
            let n = unsafe {
                libc::send(
                    fd,
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_ZEROCOPY | libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(n) => {
                off += n;
                zc.sent += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => reap(sock, zc).await?,
            Err(e) => return Err(e),
        }
    }
    reap(sock, zc).await
}

/// Reaps zero-copy completions until every send so far completed (or 50 ms passed: on
/// loopback the kernel copies at delivery, so completions are normally already queued).
async fn reap(sock: &tokio::net::TcpStream, zc: &mut ZeroCopy) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    let wait = async {
        loop {
            match drain_errqueue(fd, zc) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
            if zc.completed >= zc.sent {
                return Ok(());
            }
            sock.ready(Interest::ERROR).await?;
            // Clear the readiness so that the next wait waits for a new notification.
            let _ = sock.try_io(Interest::ERROR, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    };
    match tokio::time::timeout(Duration::from_millis(50), wait).await {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
}

/// Reads zero-copy notifications off the socket's error queue until it is empty
/// (`WouldBlock`).
fn drain_errqueue(fd: libc::c_int, zc: &mut ZeroCopy) -> io::Result<()> {
    loop {
        let mut control = [0u64; 16];
        // SAFETY: msghdr is plain data; recvmsg writes at most msg_controllen bytes into
        // `control`, and the CMSG_* macros walk only inside it.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = size_of_val(&control) as _;
            if libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let c = &*cmsg;
                if (c.cmsg_level == libc::SOL_IP && c.cmsg_type == libc::IP_RECVERR)
                    || (c.cmsg_level == libc::SOL_IPV6 && c.cmsg_type == libc::IPV6_RECVERR)
                {
                    let ee: libc::sock_extended_err =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    if ee.ee_origin == SO_EE_ORIGIN_ZEROCOPY {
                        zc.completed = zc.completed.max(u64::from(ee.ee_data) + 1);
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
}

async fn pump(mut from: ReadHalf, mut to: WriteHalf, shared: &Shared) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        shared.on_message();
        to.write_all(&buf[..n]).await?;
    }
}

async fn relay_tcp(down: Stream, up: Stream, shared: &Shared) -> io::Result<()> {
    let (dr, dw) = split(down, shared)?;
    let (ur, uw) = split(up, shared)?;
    tokio::try_join!(pump(dr, uw, shared), pump(ur, dw, shared))?;
    Ok(())
}

async fn relay_http(down: Stream, up: Stream, shared: &Shared) -> io::Result<()> {
    let (mut dr, mut dw) = split(down, shared)?;
    let (mut ur, mut uw) = split(up, shared)?;
    let (mut dbuf, mut ubuf) = (
        BytesMut::with_capacity(16 * 1024),
        BytesMut::with_capacity(16 * 1024),
    );
    while let Some(request) = wire::read_http(&mut dr, &mut dbuf, HttpKind::Request).await? {
        shared.on_message();
        if let Some(status) = shared.filters.on_request() {
            dw.write_all(&http_rejection(status)).await?;
            continue;
        }
        uw.write_all(&request.bytes).await?;
        let response = wire::read_http(&mut ur, &mut ubuf, HttpKind::Response)
            .await?
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        shared.on_message();
        dw.write_all(&response.bytes).await?;
    }
    Ok(())
}

async fn relay_grpc(down: Stream, up: Stream, shared: Arc<Shared>) -> io::Result<()> {
    let (client, conn) = h2::client::handshake(SplitWrites::boxed(up, shared.split_writes))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut server = h2::server::handshake(SplitWrites::boxed(down, shared.split_writes))
        .await
        .map_err(io::Error::other)?;
    while let Some(next) = server.accept().await {
        let (request, mut respond) = next.map_err(io::Error::other)?;
        if let Some(status) = shared.filters.on_request() {
            let answer = http::Response::builder()
                .status(status)
                .body(())
                .map_err(io::Error::other)?;
            let _ = respond.send_response(answer, true);
            continue;
        }
        let (client, shared) = (client.clone(), shared.clone());
        tokio::spawn(async move {
            if let Err(e) = proxy_stream(request, respond, client, &shared).await
                && !e.is_io()
            {
                let _ = writeln!(io::stderr(), "builtin sidecar: stream failed: {e}");
            }
        });
    }
    Ok(())
}

async fn proxy_stream(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    client: h2::client::SendRequest<Bytes>,
    shared: &Shared,
) -> Result<(), h2::Error> {
    let (parts, body) = request.into_parts();
    let mut client = client.ready().await?;
    let end = body.is_end_stream();
    let (response, mut upstream) =
        client.send_request(http::Request::from_parts(parts, ()), end)?;
    if !end {
        forward_body(body, &mut upstream, shared).await?;
    }
    let (parts, body) = response.await?.into_parts();
    let end = body.is_end_stream();
    let mut downstream = respond.send_response(http::Response::from_parts(parts, ()), end)?;
    if !end {
        forward_body(body, &mut downstream, shared).await?;
    }
    Ok(())
}

/// Forwards a body's data and trailers, ending the stream exactly once.
///
/// An empty DATA frame that carries END_STREAM arrives as an empty chunk. Relayed as an empty
/// DATA frame *without* END_STREAM (followed by a second, final one), it counts against h2's
/// limit of 100 empty non-final DATA frames per connection (a flood mitigation), and the next
/// relay (or h2 peer) then tears the connection down: with two builtin relays chained, the 100th
/// gRPC request on a connection failed. So: empty chunks are not relayed, and the last chunk
/// carries END_STREAM when the body has no trailers.
async fn forward_body(
    mut body: h2::RecvStream,
    send: &mut h2::SendStream<Bytes>,
    shared: &Shared,
) -> Result<(), h2::Error> {
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        let end = body.is_end_stream();
        if chunk.is_empty() {
            if end {
                return send.send_data(chunk, true);
            }
            continue;
        }
        shared.on_message();
        send.send_data(chunk, end)?;
        if end {
            return Ok(());
        }
    }
    match body.trailers().await? {
        Some(trailers) => send.send_trailers(trailers),
        None => send.send_data(Bytes::new(), true),
    }
}

/// In-process builtin sidecars for unit tests (a thread each, serving until the test ends).
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Blocks until something listens on `endpoint` (TCP), at most 2 s.
    pub(crate) fn wait_listening(endpoint: &Endpoint) {
        let Endpoint::Tcp(addr) = endpoint else {
            panic!("tcp endpoints only: {endpoint}")
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("nothing listens on {endpoint}");
    }

    /// A free loopback endpoint.
    pub(crate) fn free_endpoint() -> Endpoint {
        let port = crate::harness::process::free_port().expect("a free port");
        Endpoint::Tcp(([127, 0, 0, 1], port).into())
    }

    /// Starts a builtin sidecar in `mode` in front of `upstream`; returns where it listens.
    pub(crate) fn spawn_sidecar(mode: Mode, upstream: Endpoint) -> Endpoint {
        spawn_filtering_sidecar(mode, upstream, &[], FilterSettings::default())
    }

    /// Options of a plain builtin sidecar (no zero-copy, no extra work, no crash) with
    /// `filters`.
    pub(crate) fn options(
        mode: Mode,
        listen: Endpoint,
        upstream: Endpoint,
        filters: &[Filter],
        filter_settings: FilterSettings,
    ) -> BuiltinOptions {
        BuiltinOptions {
            mode,
            listen,
            upstream,
            zerocopy: false,
            extra_work_us: 0,
            split_writes: 1,
            crash_after: None,
            filters: filters.to_vec(),
            filter_settings,
        }
    }

    /// [`spawn_sidecar`] with HTTP filters.
    pub(crate) fn spawn_filtering_sidecar(
        mode: Mode,
        upstream: Endpoint,
        filters: &[Filter],
        filter_settings: FilterSettings,
    ) -> Endpoint {
        let listen = free_endpoint();
        let opts = options(mode, listen.clone(), upstream, filters, filter_settings);
        std::thread::spawn(move || {
            let _ = serve(&opts, &mut io::sink());
        });
        wait_listening(&listen);
        listen
    }

    /// Starts the echo application in `mode`; returns where it listens.
    pub(crate) fn spawn_echo(mode: Mode) -> Endpoint {
        let listen = free_endpoint();
        let l = listen.clone();
        std::thread::spawn(move || {
            let _ = crate::harness::echo::serve(mode, &[l], &mut io::sink());
        });
        wait_listening(&listen);
        listen
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{spawn_echo, spawn_filtering_sidecar, spawn_sidecar};
    use super::*;
    use crate::harness::loadgen::{ClosedLoop, Stop, run_closed_loop};

    fn requests(mode: Mode, target: Endpoint, n: u64) -> Result<u64, String> {
        run_closed_loop(&ClosedLoop {
            mode,
            target,
            size: 1000,
            warmup: 0,
            stop: Stop::Requests(n),
            pin_cpu: None,
        })
        .map(|run| run.requests)
        .map_err(|e| {
            // The error and its causes, as the command line prints them.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        })
    }

    /// The harness's filter configuration (no aborts, a limit of 10⁹/s) passes every request
    /// of both filtering modes; an abort rate of 100 % answers 503 instead of forwarding, and
    /// a limit of 1 request per second answers the second request with 429.
    #[test]
    fn filters_pass_or_answer_requests_as_configured() {
        let both = [Filter::Fault, Filter::Ratelimit];
        for mode in [Mode::Http, Mode::Grpc] {
            let open =
                spawn_filtering_sidecar(mode, spawn_echo(mode), &both, FilterSettings::default());
            assert_eq!(requests(mode, open, 300), Ok(300), "{mode}");
            let abort = FilterSettings {
                fault_abort_percent: 100.0,
                ..FilterSettings::default()
            };
            let aborting = spawn_filtering_sidecar(mode, spawn_echo(mode), &both, abort);
            let err = requests(mode, aborting, 1).unwrap_err();
            assert!(err.contains("status 503"), "{mode}: {err}");
            let limit = FilterSettings {
                ratelimit_rps: 1,
                ..FilterSettings::default()
            };
            let limited = spawn_filtering_sidecar(mode, spawn_echo(mode), &both, limit);
            let err = requests(mode, limited, 2).unwrap_err();
            assert!(err.contains("status 429"), "{mode}: {err}");
        }
    }

    #[test]
    fn filters_in_tcp_mode_are_refused() {
        let opts = test_support::options(
            Mode::Tcp,
            test_support::free_endpoint(),
            test_support::free_endpoint(),
            &[Filter::Fault],
            FilterSettings::default(),
        );
        let err = serve(&opts, &mut io::sink()).unwrap_err();
        assert!(
            err.to_string().contains("need the http or grpc mode"),
            "{err}"
        );
    }

    /// Records the length and slice count of every write it is asked for.
    #[derive(Clone, Default)]
    struct Recorder(Arc<std::sync::Mutex<Vec<(usize, usize)>>>);

    impl AsyncRead for Recorder {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.lock().unwrap().push((buf.len(), 1));
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let len = bufs.iter().map(|b| b.len()).sum();
            self.0.lock().unwrap().push((len, bufs.len()));
            Poll::Ready(Ok(len))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn writes_split_into_nearly_equal_pieces() {
        assert_eq!(piece_len(1000, 2), 500);
        assert_eq!(piece_len(1000, 3), 334);
        assert_eq!(piece_len(1, 2), 1);
        assert_eq!(piece_len(0, 2), 1);
        assert_eq!(piece_len(7, 1), 7);
        let recorder = Recorder::default();
        let mut split = SplitWrites {
            inner: Box::new(recorder.clone()),
            pieces: 3,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            split.write_all(&[7u8; 1000]).await.unwrap();
            assert!(split.is_write_vectored());
            let (a, b) = ([1u8; 300], [2u8; 700]);
            let n = split
                .write_vectored(&[IoSlice::new(&a), IoSlice::new(&b)])
                .await
                .unwrap();
            assert_eq!(n, 1000);
            split.write_all(&[1u8]).await.unwrap();
        });
        // Plain: three pieces. Vectored: three writev calls over the slices (300 + 34, 334,
        // 332 bytes). A single byte: one write.
        let calls = recorder.0.lock().unwrap().clone();
        assert_eq!(
            calls,
            [
                (334, 1),
                (334, 1),
                (332, 1),
                (334, 2),
                (334, 1),
                (332, 1),
                (1, 1)
            ]
        );
    }

    /// Every mode relays whole messages of every size with its writes split.
    #[test]
    fn every_mode_relays_with_split_writes() {
        for mode in Mode::ALL {
            let mut opts = test_support::options(
                mode,
                test_support::free_endpoint(),
                spawn_echo(mode),
                &[],
                FilterSettings::default(),
            );
            opts.split_writes = 3;
            let listen = opts.listen.clone();
            std::thread::spawn(move || {
                let _ = serve(&opts, &mut io::sink());
            });
            test_support::wait_listening(&listen);
            for size in [1, 1000, 64 * 1024] {
                let run = run_closed_loop(&ClosedLoop {
                    mode,
                    target: listen.clone(),
                    size,
                    warmup: 0,
                    stop: Stop::Requests(50),
                    pin_cpu: None,
                })
                .unwrap_or_else(|e| panic!("{mode} at {size} B: {e}"));
                assert_eq!(run.requests, 50, "{mode} at {size} B");
            }
        }
    }

    /// Through two chained gRPC relays, a connection keeps working past 100 requests: a relay
    /// must not turn the empty END_STREAM DATA frame it receives into an empty non-final one,
    /// of which h2 allows 100 per connection.
    #[test]
    fn grpc_through_two_chained_sidecars_keeps_one_connection_for_500_requests() {
        let echo = spawn_echo(Mode::Grpc);
        let inbound = spawn_sidecar(Mode::Grpc, echo);
        let outbound = spawn_sidecar(Mode::Grpc, inbound);
        for (size, requests) in [(100, 500), (64 * 1024, 150)] {
            let run = run_closed_loop(&ClosedLoop {
                mode: Mode::Grpc,
                target: outbound.clone(),
                size,
                warmup: 0,
                stop: Stop::Requests(requests),
                pin_cpu: None,
            })
            .unwrap_or_else(|e| panic!("{size} B: {e}"));
            assert_eq!(run.requests, requests, "{size} B");
        }
    }

    /// Every mode relays through three chained sidecars (requests past h2's and any other
    /// per-connection limit of 100).
    #[test]
    fn every_mode_relays_through_three_chained_sidecars() {
        for mode in Mode::ALL {
            let mut target = spawn_echo(mode);
            for _ in 0..3 {
                target = spawn_sidecar(mode, target);
            }
            let run = run_closed_loop(&ClosedLoop {
                mode,
                target,
                size: 1000,
                warmup: 0,
                stop: Stop::Requests(250),
                pin_cpu: None,
            })
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert_eq!(run.requests, 250, "{mode}");
        }
    }
}
