//! Deploying an ECG on this machine: one `__service` process per service, and with the mesh
//! an inbound sidecar in front of every service that has one plus an outbound sidecar per
//! (caller, callee) pair of services, each configured as the fixture says (as `predict` prices
//! it: a call pays the caller's outbound sidecar, in the caller's configuration, and the
//! callee's inbound one). A service called by several calls (two callers, or one caller twice) is one process
//! with one plan per call, its routes ([`super::service`]); its calls share its sidecars.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::ValidateError;
use super::service::{DownstreamPlan, ServicePlan};
use crate::ecg::Ecg;
use crate::harness::process::ManagedChild;
use crate::harness::{Endpoint, HarnessError, Launch, RunningSidecar, Sidecar};
use crate::vocab::Mode;

/// A deployed topology.
#[derive(Debug)]
pub(crate) struct Topology {
    /// Where the entry call goes.
    pub entry: Endpoint,
    /// Its protocol.
    pub entry_mode: Mode,
    /// The route of the entry call at its service.
    pub entry_route: u32,
    /// Request and response payload bytes of the entry call.
    pub entry_bytes: (u64, u64),
    services: Vec<ManagedChild>,
    sidecars: Vec<RunningSidecar>,
}

impl Topology {
    /// Every process of the topology (services and all processes of every sidecar).
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.services.iter().map(ManagedChild::pid).collect();
        for s in &self.sidecars {
            pids.extend(s.pids());
        }
        pids
    }

    /// The sidecars' processes.
    pub(crate) fn sidecar_pids(&self) -> Vec<u32> {
        self.sidecars
            .iter()
            .flat_map(RunningSidecar::pids)
            .collect()
    }

    /// Number of sidecar processes started (outbound and inbound).
    pub(crate) fn sidecar_count(&self) -> usize {
        self.sidecars.len()
    }

    /// An error if any process has exited.
    pub(crate) fn check_running(&mut self) -> Result<(), HarnessError> {
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

/// The route of call `k` at its callee: its position among the calls to that service, in
/// file order.
fn route_of(ecg: &Ecg, k: usize) -> u32 {
    let to = ecg.calls[k].to;
    ecg.calls[..k].iter().filter(|c| c.to == to).count() as u32
}

/// Services in an order that deploys callees before their callers, or the name of a service
/// that calls itself (directly or through others), which cannot be deployed that way.
fn callees_first(ecg: &Ecg) -> Result<Vec<usize>, DeployError> {
    let mut graph = petgraph::graphmap::DiGraphMap::<usize, ()>::new();
    for s in 0..ecg.services.len() {
        graph.add_node(s);
    }
    for c in &ecg.calls {
        if let Some(from) = c.from {
            graph.add_edge(from, c.to, ());
        }
    }
    let mut order = petgraph::algo::toposort(&graph, None).map_err(|cycle| DeployError::Cycle {
        service: ecg.services[cycle.node_id()].name.clone(),
    })?;
    order.reverse();
    Ok(order)
}

/// Why a fixture cannot be deployed; each names the call or service.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// A service calls itself.
    #[error(
        "service `{service}` calls itself (directly or through other services); validate deploys callees before callers, so give the inner call its own service"
    )]
    Cycle {
        /// The service.
        service: String,
    },
    /// A service called in two protocols.
    #[error(
        "service `{service}` is called in {first_mode} by `{first}` and in {mode} by `{call}`; one process serves one protocol (give it a sidecar, or its callers one mode)"
    )]
    TwoModes {
        /// The service.
        service: String,
        /// The protocol of its first call.
        first_mode: Mode,
        /// Its first call.
        first: String,
        /// The protocol of the other call.
        mode: Mode,
        /// The other call.
        call: String,
    },
    /// A tcp service called with two request sizes.
    #[error(
        "service `{service}` speaks tcp and is called with {first_bytes} B by `{first}` and {bytes} B by `{call}`; tcp has no framing, so its calls need one request size"
    )]
    TcpSizes {
        /// The service.
        service: String,
        /// The request size of its first call.
        first_bytes: u64,
        /// Its first call.
        first: String,
        /// The request size of the other call.
        bytes: u64,
        /// The other call.
        call: String,
    },
    /// A caller's sidecar cannot carry the callee's protocol.
    #[error(
        "call `{call}`: the caller `{caller}` has a {sidecar_mode} sidecar, which cannot carry the callee's {mode} (use the same mode, or tcp on the caller)"
    )]
    SidecarMode {
        /// The call.
        call: String,
        /// Its caller.
        caller: String,
        /// The mode of the caller's sidecar.
        sidecar_mode: Mode,
        /// The callee's protocol.
        mode: Mode,
    },
}

/// Checks that the fixture can be deployed.
pub(crate) fn check_deployable(ecg: &Ecg) -> Result<(), DeployError> {
    callees_first(ecg)?;
    // The first call to each service: the others must agree with it on the wire.
    let mut first: Vec<Option<usize>> = vec![None; ecg.services.len()];
    for (k, call) in ecg.calls.iter().enumerate() {
        let mode = wire_mode(ecg, k);
        if let Some(j) = first[call.to] {
            let name = &ecg.services[call.to].name;
            if wire_mode(ecg, j) != mode {
                return Err(DeployError::TwoModes {
                    service: name.clone(),
                    first_mode: wire_mode(ecg, j),
                    first: ecg.calls[j].id.clone(),
                    mode,
                    call: call.id.clone(),
                });
            }
            if mode == Mode::Tcp && ecg.calls[j].request_bytes != call.request_bytes {
                return Err(DeployError::TcpSizes {
                    service: name.clone(),
                    first_bytes: ecg.calls[j].request_bytes,
                    first: ecg.calls[j].id.clone(),
                    bytes: call.request_bytes,
                    call: call.id.clone(),
                });
            }
        } else {
            first[call.to] = Some(k);
        }
        if let Some(from) = call.from
            && let Some(cfg) = &ecg.services[from].sidecar
            && cfg.mode != mode
            && cfg.mode != Mode::Tcp
        {
            return Err(DeployError::SidecarMode {
                call: call.id.clone(),
                caller: ecg.services[from].name.clone(),
                sidecar_mode: cfg.mode,
                mode,
            });
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
            route: route_of(ecg, c),
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
        id: call.id.clone(),
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
    plans: &[ServicePlan],
) -> Result<(ManagedChild, Endpoint), ValidateError> {
    let json = serde_json::to_string(plans).expect("a plan serializes");
    let mut cmd = launch.command(&launch.exe);
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
pub(crate) fn deploy(
    ecg: &Ecg,
    mesh: Option<&Sidecar>,
    launch: &Launch,
    origin: &Path,
) -> Result<Topology, ValidateError> {
    check_deployable(ecg).map_err(|problem| ValidateError::Fixture {
        path: origin.to_path_buf(),
        problem,
    })?;
    // Where a call from outside a service's pod arrives: its inbound sidecar, or itself.
    let mut ingress: Vec<Option<Endpoint>> = vec![None; ecg.services.len()];
    let mut services = Vec::new();
    let mut sidecars = Vec::new();
    let order = callees_first(ecg).map_err(|problem| ValidateError::Fixture {
        path: origin.to_path_buf(),
        problem,
    })?;
    for s in order {
        let svc = &ecg.services[s];
        let routes: Vec<usize> = (0..ecg.calls.len())
            .filter(|&k| ecg.calls[k].to == s)
            .collect();
        if routes.is_empty() {
            continue;
        }
        let own = svc.sidecar.as_ref().filter(|_| mesh.is_some());
        // This service's outbound sidecars, one per callee service, in its configuration
        // (a tcp one relays any protocol).
        let mut outbound: HashMap<usize, Endpoint> = HashMap::new();
        let mut plans = Vec::with_capacity(routes.len());
        for &k in &routes {
            let mut failure = None;
            let plan = plan_for(ecg, k, |c| {
                let callee = ecg.calls[c].to;
                let to = ingress[callee].clone().expect("callees are deployed first");
                let (Some(sidecar), Some(cfg)) = (mesh, own) else {
                    return to;
                };
                if let Some(listen) = outbound.get(&callee) {
                    return listen.clone();
                }
                match sidecar.start_to(launch, cfg, &to, None) {
                    Ok(started) => {
                        let listen = started.listen().clone();
                        sidecars.push(started);
                        outbound.insert(callee, listen.clone());
                        listen
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                        to
                    }
                }
            });
            if let Some(e) = failure {
                return Err(e.into());
            }
            plans.push(plan);
        }
        let (child, endpoint) = start_service(launch, &svc.name, &plans)?;
        services.push(child);
        ingress[s] = Some(match (mesh, own) {
            (Some(sidecar), Some(cfg)) => {
                let started = sidecar.start_to(launch, cfg, &endpoint, None)?;
                let listen = started.listen().clone();
                sidecars.push(started);
                listen
            }
            _ => endpoint,
        });
    }
    let root = &ecg.calls[ecg.root];
    Ok(Topology {
        entry: ingress[root.to].clone().expect("the root is deployed"),
        entry_mode: wire_mode(ecg, ecg.root),
        entry_route: route_of(ecg, ecg.root),
        entry_bytes: (root.request_bytes, root.response_bytes),
        services,
        sidecars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture from its text (named `t` unless it names itself).
    fn ecg(text: &str) -> Ecg {
        let path = Path::new("t.toml");
        let text = if text.contains("\nname = ") {
            text.to_string()
        } else {
            format!("name = \"t\"\n{text}")
        };
        Ecg::resolve(crate::ecg::EcgDoc::parse(&text, path).unwrap(), path).unwrap()
    }

    #[test]
    fn every_checked_in_validation_fixture_loads_and_deploys() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut seen = 0;
        for dir in ["validate", "validate-filters", "validate-hops"] {
            for path in crate::test_support::fixtures_in(&root.join("fixtures").join(dir)) {
                let ecg = crate::test_support::load_ecg(&path);
                check_deployable(&ecg).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 23, "only {seen} fixtures found");
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

    /// a → b; services and more calls can be put before and after it.
    const A_CALLS_B: &str = r#"
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
"#;

    #[test]
    fn a_service_that_calls_itself_or_a_mode_mismatch_is_refused() {
        let twice = ecg(&A_CALLS_B.replace("to = \"b\"", "to = \"a\""));
        assert!(
            check_deployable(&twice)
                .unwrap_err()
                .to_string()
                .contains("service `a` calls itself")
        );
        let mismatch = ecg(&format!(
            "[services.a]\nmode = \"http\"\n[services.b]\nmode = \"tcp\"\n{A_CALLS_B}"
        ));
        assert!(
            check_deployable(&mismatch)
                .unwrap_err()
                .to_string()
                .contains("cannot carry")
        );
    }

    /// fixtures/validate/fan-in.toml: `users` is called by two callers, `cart` twice by one.
    fn fan_in() -> Ecg {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/validate/fan-in.toml"
        ));
        crate::test_support::load_ecg(path)
    }

    #[test]
    fn a_service_called_by_several_calls_gets_a_route_per_call() {
        let e = fan_in();
        check_deployable(&e).unwrap();
        let id = |name: &str| e.calls.iter().position(|c| c.id == name).unwrap();
        // Routes: position among the calls to the same service, in file order.
        assert_eq!(route_of(&e, id("auth")), 0);
        assert_eq!(route_of(&e, id("cart-users")), 1);
        assert_eq!(route_of(&e, id("cart")), 0);
        assert_eq!(route_of(&e, id("cart-again")), 1);
        // Callees first: users before cart before frontend.
        let order: Vec<&str> = callees_first(&e)
            .unwrap()
            .into_iter()
            .map(|s| e.services[s].name.as_str())
            .collect();
        let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
        assert!(pos("users") < pos("cart") && pos("cart") < pos("frontend"));
        // The frontend's plan names each callee's route; `cart-again` runs after `cart`.
        let plan = plan_for(&e, id("front"), |_| "127.0.0.1:1".parse().unwrap());
        let routes: Vec<(&str, u32)> = plan
            .calls
            .iter()
            .map(|c| (c.id.as_str(), c.route))
            .collect();
        assert_eq!(routes, [("auth", 0), ("cart", 0), ("cart-again", 1)]);
        assert_eq!(plan.calls[2].after, [0, 1]);
    }

    #[test]
    fn a_service_called_in_two_protocols_or_tcp_sizes_is_refused() {
        let base = format!(
            "[services.a]\nsidecar = false\n[services.c]\nsidecar = false\n{A_CALLS_B}[[calls]]\nid = \"c\"\nparent = \"a\"\nto = \"c\"\nstart_us = 30\nduration_us = 10\n"
        );
        // `c` has no sidecar: its protocol is its caller's.
        let two_modes = format!(
            "{base}[services.b]\nmode = \"tcp\"\n[[calls]]\nid = \"c2\"\nparent = \"b\"\nto = \"c\"\nstart_us = 12\nduration_us = 5\n"
        );
        let err = check_deployable(&ecg(&two_modes)).unwrap_err().to_string();
        assert!(err.contains("service `c` is called in http"), "{err}");
        let sizes = base.replace(
            "[services.c]\nsidecar = false",
            "[services.c]\nmode = \"tcp\"",
        ) + "[[calls]]\nid = \"c2\"\nparent = \"a\"\nto = \"c\"\nstart_us = 50\nduration_us = 5\nrequest_bytes = 7\n";
        let err = check_deployable(&ecg(&sizes)).unwrap_err().to_string();
        assert!(err.contains("one request size"), "{err}");
    }

    #[test]
    fn plans_and_predict_agree_on_ties() {
        // `z` lasts 0 µs and starts with `b`: not its predecessor (it did not start earlier).
        let e = ecg(r#"
name = "t"
[[calls]]
id = "a"
to = "a"
start_us = 0
duration_us = 1000
[[calls]]
id = "z"
parent = "a"
to = "z"
start_us = 100
duration_us = 0
[[calls]]
id = "b"
parent = "a"
to = "b"
start_us = 100
duration_us = 300
"#);
        let plan = plan_for(&e, e.root, |_| "127.0.0.1:1".parse().unwrap());
        assert!(plan.calls.iter().all(|c| c.after.is_empty()));
    }
}
