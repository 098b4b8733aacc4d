//! Loads the embedded BPF object and attaches its programs: the raw tracepoint set where
//! the kernel allows it, else the classic tracepoint set (docs/probe.md).

use std::path::Path;

use aya::maps::{Array, MapData};
use aya::programs::raw_trace_point::RawTracePointLinkId;
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader, include_bytes_aligned};

use super::capability::{self, Capabilities, TRACEPOINTS};
use super::{ProbeError, ProbeOptions, ProbeSet, syscalls};

/// The object built by build.rs from `bpf/probe.bpf.c` (or the committed copy).
static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe.bpf.o"));

/// A loaded and attached probe.
pub(super) struct Loaded {
    pub ebpf: Ebpf,
    pub links: Links,
    /// The programs that measure.
    pub set: ProbeSet,
    /// Why the preferred raw tracepoint set is not used, when it was wanted but failed.
    pub fallback: Option<String>,
}

/// Loads and attaches the set the options ask for: with [`ProbeOptions::probe_set`] unset,
/// the raw tracepoint set if it loads and attaches, else the classic one.
pub(super) fn load_and_attach(
    opts: &ProbeOptions,
    caps: &Capabilities,
) -> Result<Loaded, ProbeError> {
    let mut fallback = None;
    if opts.probe_set != Some(ProbeSet::Tracepoint) {
        let raw = if caps.btf {
            load_raw(opts)
        } else {
            Err(ProbeError::NoBtf)
        };
        match raw {
            Ok((ebpf, links)) => {
                return Ok(Loaded {
                    ebpf,
                    links,
                    set: ProbeSet::RawTracepoint,
                    fallback: None,
                });
            }
            Err(e) if opts.probe_set == Some(ProbeSet::RawTracepoint) => return Err(e),
            Err(e) => fallback = Some(error_chain(&e)),
        }
    }
    let (ebpf, links) = load_classic(opts, caps)?;
    Ok(Loaded {
        ebpf,
        links,
        set: ProbeSet::Tracepoint,
        fallback,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The raw tracepoint set: attached by name (no tracefs needed); the task and device
/// fields it reads are relocated against the kernel's BTF (CO-RE) while loading.
fn load_raw(opts: &ProbeOptions) -> Result<(Ebpf, Links), ProbeError> {
    let mut ebpf = load_object(opts, true)?;
    for &(category, name, _, program) in TRACEPOINTS {
        raw_tracepoint(&mut ebpf, program, category, name)?
            .load()
            .map_err(attach_err("raw_tracepoint", name))?;
    }
    let links = attach_all(&mut ebpf, opts, ProbeSet::RawTracepoint)?;
    Ok((ebpf, links))
}

/// The classic set. When tracefs is not mounted (the tracepoint ids are read from it),
/// loads on a helper thread that mounts tracefs in a private mount namespace; the
/// attachments outlive the thread, the mount does not.
fn load_classic(opts: &ProbeOptions, caps: &Capabilities) -> Result<(Ebpf, Links), ProbeError> {
    if let Some(tracefs) = &caps.tracefs {
        return load_classic_in_this_thread(opts, Path::new(tracefs));
    }
    let opts = opts.clone();
    std::thread::scope(|s| {
        s.spawn(move || {
            capability::mount_private_tracefs()?;
            load_classic_in_this_thread(&opts, Path::new(capability::TRACEFS))
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn load_classic_in_this_thread(
    opts: &ProbeOptions,
    tracefs: &Path,
) -> Result<(Ebpf, Links), ProbeError> {
    let missing = capability::missing_tracepoints(tracefs);
    if !missing.is_empty() {
        return Err(ProbeError::MissingTracepoints { missing });
    }
    let mut ebpf = load_object(opts, false)?;
    for &(category, name, program, _) in TRACEPOINTS {
        tracepoint(&mut ebpf, program, category, name)?
            .load()
            .map_err(attach_err(category, name))?;
    }
    let links = attach_all(&mut ebpf, opts, ProbeSet::Tracepoint)?;
    Ok((ebpf, links))
}

/// Loads the object (maps and program code, no program in the kernel yet) with the
/// options as globals and fills the syscall classes. `btf`: relocate against the kernel's
/// BTF (only the raw set needs it; without it a kernel whose BTF lacks a field the raw
/// programs read still loads the classic set).
fn load_object(opts: &ProbeOptions, btf: bool) -> Result<Ebpf, ProbeError> {
    let count_ksoftirqd = u32::from(opts.count_ksoftirqd);
    let follow_children = u32::from(opts.follow_children);
    let kernel_btf = if btf {
        Some(aya::Btf::from_sys_fs().map_err(|_| ProbeError::NoBtf)?)
    } else {
        None
    };
    let mut ebpf = EbpfLoader::new()
        .btf(kernel_btf.as_ref())
        .set_global("CFG_COUNT_KSOFTIRQD", &count_ksoftirqd, true)
        .set_global("CFG_FOLLOW_CHILDREN", &follow_children, true)
        .load(OBJECT)
        .map_err(ProbeError::Load)?;
    let map = ebpf.map_mut("syscall_class").ok_or(ProbeError::Map {
        map: "syscall_class",
        source: aya::maps::MapError::InvalidName {
            name: "syscall_class".to_string(),
        },
    })?;
    let mut classes: Array<&mut MapData, u32> =
        Array::try_from(map).map_err(|source| ProbeError::Map {
            map: "syscall_class",
            source,
        })?;
    for (nr, class) in syscalls::classes() {
        if nr < super::abi::SYSCALL_SLOTS {
            classes
                .set(nr, class, 0)
                .map_err(|source| ProbeError::Map {
                    map: "syscall_class",
                    source,
                })?;
        }
    }
    Ok(ebpf)
}

fn attach_err(category: &str, name: &str) -> impl Fn(aya::programs::ProgramError) -> ProbeError {
    let tracepoint = format!("{category}:{name}");
    move |source| ProbeError::Attach {
        tracepoint: tracepoint.clone(),
        source,
    }
}

fn tracepoint<'a>(
    ebpf: &'a mut Ebpf,
    program: &str,
    category: &str,
    name: &str,
) -> Result<&'a mut TracePoint, ProbeError> {
    ebpf.program_mut(program)
        .expect("every tracepoint of TRACEPOINTS has a program in bpf/probe.bpf.c")
        .try_into()
        .map_err(attach_err(category, name))
}

fn raw_tracepoint<'a>(
    ebpf: &'a mut Ebpf,
    program: &str,
    category: &str,
    name: &str,
) -> Result<&'a mut RawTracePoint, ProbeError> {
    ebpf.program_mut(program)
        .expect("every tracepoint of TRACEPOINTS has a raw program in bpf/probe.bpf.c")
        .try_into()
        .map_err(attach_err(category, name))
}

/// One attachment, with its index into [`TRACEPOINTS`].
pub(super) enum Link {
    Classic(usize, TracePointLinkId),
    Raw(usize, RawTracePointLinkId),
}

/// The attachments.
pub(super) type Links = Vec<Link>;

/// Whether the options use this tracepoint (the loopback transmit pair is optional).
fn wanted(opts: &ProbeOptions, category: &str) -> bool {
    opts.loopback_transmit || category != "net"
}

/// Attaches every (loaded) program of `set` that the options ask for. The classic set
/// needs tracefs in this thread's mount namespace; the raw set does not.
pub(super) fn attach_all(
    ebpf: &mut Ebpf,
    opts: &ProbeOptions,
    set: ProbeSet,
) -> Result<Links, ProbeError> {
    let mut links = Vec::new();
    for (i, &(category, name, classic, raw)) in TRACEPOINTS.iter().enumerate() {
        if !wanted(opts, category) {
            continue;
        }
        links.push(match set {
            ProbeSet::Tracepoint => Link::Classic(
                i,
                tracepoint(ebpf, classic, category, name)?
                    .attach(category, name)
                    .map_err(attach_err(category, name))?,
            ),
            ProbeSet::RawTracepoint => Link::Raw(
                i,
                raw_tracepoint(ebpf, raw, category, name)?
                    .attach(name)
                    .map_err(attach_err("raw_tracepoint", name))?,
            ),
        });
    }
    Ok(links)
}

/// Detaches every program (they stay loaded; the maps keep their contents).
pub(super) fn detach_all(ebpf: &mut Ebpf, links: Links) -> Result<(), ProbeError> {
    for link in links {
        match link {
            Link::Classic(i, link) => {
                let (category, name, program, _) = TRACEPOINTS[i];
                tracepoint(ebpf, program, category, name)?
                    .detach(link)
                    .map_err(attach_err(category, name))?;
            }
            Link::Raw(i, link) => {
                let (category, name, _, program) = TRACEPOINTS[i];
                raw_tracepoint(ebpf, program, category, name)?
                    .detach(link)
                    .map_err(attach_err("raw_tracepoint", name))?;
            }
        }
    }
    Ok(())
}
