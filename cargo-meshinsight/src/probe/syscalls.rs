//! Which syscalls are reads, writes and notification waits, for the running architecture.
//! Loaded into the `syscall_class` map, so the BPF object is the same on every architecture.

/// `SYS_READ` in `bpf/probe.h`.
pub(crate) const SYS_READ: u32 = 1;
/// `SYS_WRITE`.
pub(crate) const SYS_WRITE: u32 = 2;
/// `SYS_NOTIFY`.
pub(crate) const SYS_NOTIFY: u32 = 3;

/// Syscalls that read data: the value they return (> 0) is the byte count.
pub(crate) const READS: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_pread64,
    libc::SYS_preadv,
    libc::SYS_preadv2,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
];

/// Syscalls that write data: the value they return (> 0) is the byte count.
pub(crate) const WRITES: &[libc::c_long] = &[
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_pwrite64,
    libc::SYS_pwritev,
    libc::SYS_pwritev2,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
];

/// Syscalls that wait for readiness.
#[cfg(target_arch = "x86_64")]
pub(crate) const NOTIFY: &[libc::c_long] = &[
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_select,
    libc::SYS_pselect6,
];

/// Syscalls that wait for readiness.
#[cfg(not(target_arch = "x86_64"))]
pub const NOTIFY: &[libc::c_long] = &[
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_ppoll,
    libc::SYS_pselect6,
];

/// (syscall number, class) pairs for the map.
pub(crate) fn classes() -> impl Iterator<Item = (u32, u32)> {
    let tag = |list: &'static [libc::c_long], class: u32| {
        list.iter()
            .filter_map(move |&nr| u32::try_from(nr).ok().map(|nr| (nr, class)))
    };
    tag(READS, SYS_READ)
        .chain(tag(WRITES, SYS_WRITE))
        .chain(tag(NOTIFY, SYS_NOTIFY))
}
