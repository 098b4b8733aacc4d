//! Loads the embedded BPF object and attaches its tracepoints.

use std::path::Path;

use aya::maps::{Array, MapData};
use aya::programs::TracePoint;
use aya::programs::trace_point::TracePointLinkId;
use aya::{Ebpf, EbpfLoader, include_bytes_aligned};

use super::capability::{self, Capabilities, TRACEPOINTS};
use super::{ProbeError, ProbeOptions, syscalls};

/// The object built by build.rs from `bpf/probe.bpf.c` (or the committed copy).
static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe.bpf.o"));

/// Loads and attaches. When tracefs is not mounted, does it on a helper thread that mounts
/// tracefs in a private mount namespace (the tracepoint ids are read from tracefs); the
/// attachments outlive the thread, the mount does not.
pub(super) fn load_and_attach(
    opts: &ProbeOptions,
    caps: &Capabilities,
) -> Result<(Ebpf, Links), ProbeError> {
    if let Some(tracefs) = &caps.tracefs {
        return load_in_this_thread(opts, Path::new(tracefs));
    }
    let opts = opts.clone();
    std::thread::scope(|s| {
        s.spawn(move || {
            capability::mount_private_tracefs()?;
            load_in_this_thread(&opts, Path::new(capability::TRACEFS))
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn load_in_this_thread(opts: &ProbeOptions, tracefs: &Path) -> Result<(Ebpf, Links), ProbeError> {
    let missing = capability::missing_tracepoints(tracefs);
    if !missing.is_empty() {
        return Err(ProbeError::MissingTracepoints { missing });
    }
    let count_ksoftirqd = u32::from(opts.count_ksoftirqd);
    let follow_children = u32::from(opts.follow_children);
    let mut ebpf = EbpfLoader::new()
        .set_global("CFG_COUNT_KSOFTIRQD", &count_ksoftirqd, true)
        .set_global("CFG_FOLLOW_CHILDREN", &follow_children, true)
        .load(OBJECT)
        .map_err(ProbeError::Load)?;
    {
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
    }
    for &(category, name, program) in TRACEPOINTS {
        tracepoint(&mut ebpf, program, category, name)?
            .load()
            .map_err(attach_err(category, name))?;
    }
    let links = attach_all(&mut ebpf, opts)?;
    Ok((ebpf, links))
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

/// The attachments: (index into [`TRACEPOINTS`], link).
pub(super) type Links = Vec<(usize, TracePointLinkId)>;

/// Whether the options use this tracepoint (the loopback transmit pair is optional).
fn wanted(opts: &ProbeOptions, category: &str) -> bool {
    opts.loopback_transmit || category != "net"
}

/// Attaches every (loaded) program the options ask for to its tracepoint.
pub(super) fn attach_all(ebpf: &mut Ebpf, opts: &ProbeOptions) -> Result<Links, ProbeError> {
    let mut links = Vec::new();
    for (i, &(category, name, program)) in TRACEPOINTS.iter().enumerate() {
        if !wanted(opts, category) {
            continue;
        }
        let link = tracepoint(ebpf, program, category, name)?
            .attach(category, name)
            .map_err(attach_err(category, name))?;
        links.push((i, link));
    }
    Ok(links)
}

/// Detaches every program (they stay loaded; the maps keep their contents).
pub(super) fn detach_all(ebpf: &mut Ebpf, links: Links) -> Result<(), ProbeError> {
    for (i, link) in links {
        let (category, name, program) = TRACEPOINTS[i];
        tracepoint(ebpf, program, category, name)?
            .detach(link)
            .map_err(attach_err(category, name))?;
    }
    Ok(())
}
