//! The calibrated workload the probe is tested against (`cargo-meshinsight __probe-workload`).
//!
//! A server and a client exchange `messages` messages of `size` bytes over loopback TCP,
//! one in flight, with non-blocking sockets and epoll, and burn `work_us` µs of user-space
//! CPU per message on each side. Each side stops itself (SIGSTOP) once connected and again
//! once done, so that a test can attach the probe in between and snapshot it before the
//! side prints its result line (JSON [`WorkloadResult`]) and exits: the probed window holds
//! exactly `messages` reads and `messages` writes of `size` bytes on each side.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What one side measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// Messages received (and sent).
    pub messages: u64,
    /// Thread CPU time spent in the calibrated work, ns (CLOCK_THREAD_CPUTIME_ID).
    pub work_ns: u64,
}

/// Which side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Accepts, then answers each message.
    Server,
    /// Connects to `port`, then sends each message and waits for the answer.
    Client {
        /// The server's port on 127.0.0.1.
        port: u16,
    },
}

/// A side of the exchange.
#[derive(Clone, Copy, Debug)]
pub struct PairConfig {
    /// Which side.
    pub side: Side,
    /// Round trips.
    pub messages: u64,
    /// Bytes per message.
    pub size: usize,
    /// User-space work per message, µs.
    pub work_us: u64,
}

/// Thread CPU time, ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Pure user-space arithmetic: no syscalls, no memory traffic to speak of.
#[inline(never)]
fn spin(iterations: u64) -> u64 {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..iterations {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_add(i);
    }
    std::hint::black_box(x)
}

/// Iterations of [`spin`] per µs of thread CPU time on this machine: the fastest of five
/// trials of at least 20 ms.
///
/// A disturbance during a trial (the host taking the vCPU, a cold cache) only makes it
/// slower, and a rate set too low makes the work run short of its nominal time; the fastest
/// trial is the undisturbed rate, so the work takes at least its time.
fn calibrate() -> f64 {
    let mut iterations = 10_000u64;
    let rate = |iterations: u64| {
        let t0 = thread_cpu_ns();
        spin(iterations);
        let dt = thread_cpu_ns() - t0;
        (dt, iterations as f64 / (dt as f64 / 1e3))
    };
    let first = loop {
        let (dt, per_us) = rate(iterations);
        if dt >= 20_000_000 {
            break per_us;
        }
        iterations *= 2;
    };
    (1..5).map(|_| rate(iterations).1).fold(first, f64::max)
}

fn stop_self() {
    // SAFETY: sending a signal to ourselves.
    unsafe { libc::raise(libc::SIGSTOP) };
}

struct Epoll(i32);

impl Epoll {
    fn new(fd: i32) -> io::Result<Epoll> {
        // SAFETY: plain syscalls on owned descriptors.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        // SAFETY: valid descriptors and event.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(ep))
    }

    fn wait(&self) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        loop {
            // SAFETY: one event slot, valid descriptor.
            let n = unsafe { libc::epoll_wait(self.0, &mut ev, 1, -1) };
            if n > 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if n < 0 && e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// Reads one whole message, waiting with epoll (one read per message on loopback).
fn recv_message(stream: &mut TcpStream, epoll: &Epoll, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        epoll.wait()?;
        match stream.read(&mut buf[got..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes one whole message (one write per message: the socket buffer has room).
fn send_message(stream: &mut TcpStream, buf: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < buf.len() {
        match stream.write(&buf[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs one side; `announce` receives the server's port (before the first stop).
pub fn run_pair(cfg: &PairConfig, announce: &mut dyn Write) -> io::Result<WorkloadResult> {
    let per_us = calibrate();
    let iterations = (per_us * cfg.work_us as f64).round() as u64;
    let mut stream = match cfg.side {
        Side::Server => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            writeln!(announce, "{}", listener.local_addr()?.port())?;
            announce.flush()?;
            listener.accept()?.0
        }
        Side::Client { port } => TcpStream::connect(("127.0.0.1", port))?,
    };
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    let epoll = Epoll::new(stream.as_raw_fd())?;
    let mut buf = vec![0u8; cfg.size];
    let message = vec![0x5au8; cfg.size];
    stop_self();
    let mut work_ns = 0;
    let mut work = || {
        let t0 = thread_cpu_ns();
        spin(iterations);
        work_ns += thread_cpu_ns() - t0;
    };
    for _ in 0..cfg.messages {
        match cfg.side {
            Side::Server => {
                recv_message(&mut stream, &epoll, &mut buf)?;
                work();
                send_message(&mut stream, &message)?;
            }
            Side::Client { .. } => {
                work();
                send_message(&mut stream, &message)?;
                recv_message(&mut stream, &epoll, &mut buf)?;
            }
        }
    }
    stop_self();
    Ok(WorkloadResult {
        messages: cfg.messages,
        work_ns,
    })
}

/// A process that reads /dev/zero, writes /dev/null and spins for `duration`: busy with
/// exactly the syscalls the probe counts, so a test can check it is not counted.
pub fn run_busy(duration: Duration) -> io::Result<u64> {
    let mut zero = std::fs::File::open("/dev/zero")?;
    let mut null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let mut buf = [0u8; 256];
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < duration {
        zero.read_exact(&mut buf)?;
        null.write_all(&buf)?;
        spin(2_000);
        rounds += 1;
    }
    Ok(rounds)
}

/// A blocking echo server for the overhead benchmark: announces its port, then answers
/// each `size`-byte message until the peer closes.
pub fn run_echo(size: usize, announce: &mut dyn Write) -> io::Result<u64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    writeln!(announce, "{}", listener.local_addr()?.port())?;
    announce.flush()?;
    let (mut stream, _) = listener.accept()?;
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; size];
    let mut n = 0;
    loop {
        match stream.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
            Err(e) => return Err(e),
        }
        stream.write_all(&buf)?;
        n += 1;
    }
}

/// Writes of [`run_threads`] per thread.
pub const THREAD_WRITES: u64 = 100;
/// Bytes per write of [`run_threads`].
pub const THREAD_WRITE_SIZE: usize = 64;

/// A process whose threads write to /dev/null: `before` threads exist before it stops
/// itself, `after` more are started once it continues; every thread, and the main thread,
/// writes [`THREAD_WRITES`] × [`THREAD_WRITE_SIZE`] bytes; then it stops itself again.
pub fn run_threads(before: usize, after: usize) -> io::Result<()> {
    use std::sync::{Arc, Barrier};
    fn writes() -> io::Result<()> {
        let mut null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        let buf = [7u8; THREAD_WRITE_SIZE];
        for _ in 0..THREAD_WRITES {
            null.write_all(&buf)?;
        }
        Ok(())
    }
    let go = Arc::new(Barrier::new(before + 1));
    let mut handles = Vec::new();
    for _ in 0..before {
        let go = go.clone();
        handles.push(std::thread::spawn(move || {
            go.wait();
            writes()
        }));
    }
    stop_self();
    go.wait();
    for _ in 0..after {
        handles.push(std::thread::spawn(writes));
    }
    writes()?;
    for h in handles {
        h.join()
            .map_err(|_| io::Error::other("a writer thread panicked"))??;
    }
    stop_self();
    Ok(())
}
