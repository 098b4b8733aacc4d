//! Deploying an ECG on this machine: one `__service` process per service, and with the mesh
//! an inbound sidecar in front of every service that has one plus an outbound sidecar per
//! (caller, callee) pair, each configured as the fixture says (DESIGN §6: a call pays the
//! caller's outbound sidecar, in the caller's configuration, and the callee's inbound one).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::ValidateError;
use super::service::{DownstreamPlan, ServicePlan};
use crate::ecg::Ecg;
use crate::harness::process::ManagedChild;
use crate::harness::{Endpoint, HarnessError, Launch, RunningSidecar, Sidecar};
use crate::vocab::{Mode, SidecarConfig};

/// A deployed topology.
#[derive(Debug)]
pub struct Topology {
    /// Where the entry call goes.
    pub entry: Endpoint,
    /// Its protocol.
    pub entry_mode: Mode,
    /// Request and response payload bytes of the entry call.
    pub entry_bytes: (u64, u64),
    services: Vec<ManagedChild>,
    sidecars: Vec<RunningSidecar>,
}

impl Topology {
    /// Every process of the topology (services and all processes of every sidecar).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.services.iter().map(ManagedChild::pid).collect();
        for s in &self.sidecars {
            pids.extend(s.pids());
        }
        pids
    }

    /// The sidecars' processes.
    pub fn sidecar_pids(&self) -> Vec<u32> {
        self.sidecars
            .iter()
            .flat_map(RunningSidecar::pids)
            .collect()
    }

    /// Number of sidecar processes started (outbound and inbound).
    pub fn sidecar_count(&self) -> usize {
        self.sidecars.len()
    }

    /// An error if any process has exited.
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        for s in &mut self.services {
            s.check_running("during the run")?;
        }
        for s in &mut self.sidecars {
            s.check_running()?;
        }
        Ok(())
    }
}

/// The protocol on the wire of a call to service `to` from a caller with `from`'s sidecar.
fn wire_mode(ecg: &Ecg, call: usize) -> Mode {
    let c = &ecg.calls[call];
    ecg.services[c.to]
        .sidecar
        .as_ref()
        .or_else(|| c.from.and_then(|f| ecg.services[f].sidecar.as_ref()))
        .map_or(Mode::Http, |s| s.mode)
}

/// Checks that the fixture can be deployed; the message names the call or service.
pub fn check_deployable(ecg: &Ecg) -> Result<(), String> {
    let mut callee_of = vec![None; ecg.services.len()];
    for (k, call) in ecg.calls.iter().enumerate() {
        if let Some(other) = callee_of[call.to].replace(k) {
            return Err(format!(
                "service `{}` is called by both `{}` and `{}`; validate deploys one timeline per service, so give each call its own service",
                ecg.services[call.to].name, ecg.calls[other].id, call.id
            ));
        }
        let mode = wire_mode(ecg, k);
        if let Some(from) = call.from
            && let Some(cfg) = &ecg.services[from].sidecar
            && cfg.mode != mode
            && cfg.mode != Mode::Tcp
        {
            return Err(format!(
                "call `{}`: the caller `{}` has a {} sidecar, which cannot carry the callee's {mode} (use the same mode, or tcp on the caller)",
                call.id, ecg.services[from].name, cfg.mode
            ));
        }
    }
    Ok(())
}

/// The downstream calls of call `k`: targets filled in by `target(child)`.
fn plan_for(ecg: &Ecg, k: usize, mut target: impl FnMut(usize) -> Endpoint) -> ServicePlan {
    let call = &ecg.calls[k];
    let kids = &ecg.children[k];
    let mut calls = Vec::new();
    for &c in kids {
        let kc = &ecg.calls[c];
        // The predecessor rule of `predict` (`Ecg::predecessors`), as indices into `kids`.
        let after: Vec<usize> = ecg
            .predecessors(c)
            .iter()
            .filter_map(|a| kids.iter().position(|x| x == a))
            .collect();
        let gap_us = if after.is_empty() {
            kc.start_us - call.start_us
        } else {
            let latest = after
                .iter()
                .map(|&j| ecg.calls[kids[j]].end_us())
                .fold(f64::MIN, f64::max);
            kc.start_us - latest
        };
        calls.push(DownstreamPlan {
            id: kc.id.clone(),
            target: target(c),
            mode: wire_mode(ecg, c),
            request_bytes: kc.request_bytes,
            response_bytes: kc.response_bytes,
            after,
            gap_us: gap_us.max(0.0),
        });
    }
    let tail_us = kids
        .iter()
        .map(|&c| ecg.calls[c].end_us())
        .fold(f64::MIN, f64::max);
    ServicePlan {
        mode: wire_mode(ecg, k),
        request_bytes: call.request_bytes,
        response_bytes: call.response_bytes,
        leaf_us: call.duration_us,
        tail_us: if kids.is_empty() {
            0.0
        } else {
            (call.end_us() - tail_us).max(0.0)
        },
        calls,
    }
}

fn start_service(
    launch: &Launch,
    name: &str,
    plan: &ServicePlan,
) -> Result<(ManagedChild, Endpoint), ValidateError> {
    let json = serde_json::to_string(plan).expect("a plan serializes");
    let mut cmd = Command::new(&launch.exe);
    cmd.args(["__service", "--listen", "127.0.0.1:0", "--plan"])
        .arg(json);
    let mut child = ManagedChild::spawn(format!("service `{name}`"), cmd, None)?;
    let endpoint = child
        .read_listening(Duration::from_secs(10))?
        .into_iter()
        .next()
        .ok_or_else(|| HarnessError::Config(format!("service `{name}` announced no address")))?;
    Ok((child, endpoint))
}

/// Deploys `ecg`: with `mesh`, through that sidecar; without, services call each other
/// directly.
pub fn deploy(
    ecg: &Ecg,
    mesh: Option<&Sidecar>,
    launch: &Launch,
    origin: &Path,
) -> Result<Topology, ValidateError> {
    check_deployable(ecg).map_err(|message| ValidateError::Fixture {
        path: origin.to_path_buf(),
        message,
    })?;
    let n = ecg.calls.len();
    // Where a call from outside the callee's pod arrives: the callee's inbound sidecar, or
    // the callee itself.
    let mut ingress: Vec<Option<Endpoint>> = vec![None; n];
    let mut services = Vec::new();
    let mut sidecars = Vec::new();
    // Post-order: callees before callers, so that every target is known.
    let mut order = Vec::with_capacity(n);
    let mut stack = vec![(ecg.root, false)];
    while let Some((k, expanded)) = stack.pop() {
        if expanded {
            order.push(k);
        } else {
            stack.push((k, true));
            for &c in &ecg.children[k] {
                stack.push((c, false));
            }
        }
    }
    for k in order {
        let call = &ecg.calls[k];
        let svc = &ecg.services[call.to];
        let own = svc.sidecar.as_ref().filter(|_| mesh.is_some());
        let mut failure = None;
        let mut outbound = Vec::new();
        let plan = plan_for(ecg, k, |c| {
            let to = ingress[c].clone().expect("callees are deployed first");
            match (mesh, own) {
                (Some(sidecar), Some(cfg)) => {
                    // The caller's outbound sidecar in the caller's configuration; a tcp one
                    // relays any protocol.
                    let cfg: SidecarConfig = cfg.clone();
                    match sidecar.start_to(launch, &cfg, &to, None) {
                        Ok(s) => {
                            let listen = s.listen().clone();
                            outbound.push(s);
                            listen
                        }
                        Err(e) => {
                            failure.get_or_insert(e);
                            to
                        }
                    }
                }
                _ => to,
            }
        });
        if let Some(e) = failure {
            return Err(e.into());
        }
        sidecars.extend(outbound);
        let (child, endpoint) = start_service(launch, &svc.name, &plan)?;
        services.push(child);
        ingress[k] = Some(match (mesh, own) {
            (Some(sidecar), Some(cfg)) => {
                let s = sidecar.start_to(launch, cfg, &endpoint, None)?;
                let listen = s.listen().clone();
                sidecars.push(s);
                listen
            }
            _ => endpoint,
        });
    }
    let root = &ecg.calls[ecg.root];
    Ok(Topology {
        entry: ingress[ecg.root].clone().expect("the root is deployed"),
        entry_mode: wire_mode(ecg, ecg.root),
        entry_bytes: (root.request_bytes, root.response_bytes),
        services,
        sidecars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecg(text: &str) -> Ecg {
        let path = Path::new("t.toml");
        Ecg::resolve(crate::ecg::EcgDoc::parse(text, path).unwrap(), path).unwrap()
    }

    #[test]
    fn plans_keep_offsets_gaps_and_tails() {
        let e = ecg(r#"
name = "t"
[[calls]]
id = "a"
to = "a"
start_us = 0
duration_us = 1000
[[calls]]
id = "b"
parent = "a"
to = "b"
start_us = 100
duration_us = 300
[[calls]]
id = "c"
parent = "a"
to = "c"
start_us = 120
duration_us = 200
[[calls]]
id = "d"
parent = "a"
to = "d"
start_us = 500
duration_us = 100
"#);
        let a = e.calls.iter().position(|c| c.id == "a").unwrap();
        let plan = plan_for(&e, a, |_| "127.0.0.1:1".parse().unwrap());
        let ids: Vec<&str> = plan.calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["b", "c", "d"]);
        assert!(plan.calls[0].after.is_empty());
        assert_eq!(plan.calls[0].gap_us, 100.0);
        assert!(plan.calls[1].after.is_empty(), "c overlaps b: parallel");
        assert_eq!(plan.calls[1].gap_us, 120.0);
        assert_eq!(plan.calls[2].after, vec![0, 1]);
        assert_eq!(plan.calls[2].gap_us, 100.0, "500 - max(400, 320)");
        assert_eq!(plan.tail_us, 400.0);
    }

    #[test]
    fn a_service_called_twice_or_a_mode_mismatch_is_refused() {
        let twice = ecg(r#"
name = "t"
[[calls]]
id = "a"
to = "a"
start_us = 0
duration_us = 100
[[calls]]
id = "b"
parent = "a"
to = "a"
start_us = 10
duration_us = 10
"#);
        assert!(
            check_deployable(&twice)
                .unwrap_err()
                .contains("called by both")
        );
        let mismatch = ecg(r#"
name = "t"
[services.a]
mode = "http"
[services.b]
mode = "tcp"
[[calls]]
id = "a"
to = "a"
start_us = 0
duration_us = 100
[[calls]]
id = "b"
parent = "a"
to = "b"
start_us = 10
duration_us = 10
"#);
        assert!(
            check_deployable(&mismatch)
                .unwrap_err()
                .contains("cannot carry")
        );
    }
}
