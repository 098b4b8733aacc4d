//! Hand-computed predictions on small graphs and a toy profile.
//!
//! Toy profile (per sidecar traversal, per-byte terms given where a test needs them):
//! tcp latency 10 µs (ipc 4, read 2, write 3, notify 1, other 0), CPU 20 µs;
//! http latency 20 µs (ipc 4, read 2, write 3, notify 1, parsing 8, other 2), CPU 40 µs;
//! filter lua on http: latency 5 µs, CPU 7 µs.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::ecg::EcgDoc;
use crate::model::{
    ComponentModel, FilterProfile, LinearModel, ModeProfile, Platform, SidecarInfo,
};
use crate::vocab::{Component, Filter, Mode, SidecarConfig};

fn cm(lat: f64, cpu: f64) -> ComponentModel {
    ComponentModel {
        latency: LinearModel::new(lat, 0.0),
        cpu: LinearModel::new(cpu, 0.0),
        cpu_unloaded: None,
    }
}

pub(crate) fn toy_profile() -> Profile {
    use Component::*;
    let tcp = ModeProfile {
        components: BTreeMap::from([
            (Ipc, cm(4.0, 8.0)),
            (Read, cm(2.0, 4.0)),
            (Write, cm(3.0, 6.0)),
            (Notify, cm(1.0, 2.0)),
            (Other, cm(0.0, 0.0)),
        ]),
        filters: BTreeMap::new(),
        split: None,
    };
    let http = ModeProfile {
        components: BTreeMap::from([
            (Ipc, cm(4.0, 8.0)),
            (Read, cm(2.0, 4.0)),
            (Write, cm(3.0, 6.0)),
            (Notify, cm(1.0, 2.0)),
            (Parsing, cm(8.0, 16.0)),
            (Other, cm(2.0, 4.0)),
        ]),
        filters: BTreeMap::from([(
            Filter::Lua,
            FilterProfile {
                components: BTreeMap::from([(Other, cm(5.0, 7.0))]),
            },
        )]),
        split: None,
    };
    let p = Profile {
        format_version: crate::model::FORMAT_VERSION,
        source: Some("toy".into()),
        notes: vec![],
        platform: Platform {
            id: "toy".into(),
            sidecar: SidecarInfo {
                name: "toy".into(),
                ..SidecarInfo::default()
            },
            ..Platform::default()
        },
        modes: BTreeMap::from([(Mode::Tcp, tcp), (Mode::Http, http)]),
        settings: None,
        checks: None,
        runs: vec![],
    };
    p.validate().unwrap();
    p
}

fn ecg(toml: &str) -> Ecg {
    let path = Path::new("test.toml");
    let doc = EcgDoc::parse(toml, path).unwrap();
    Ecg::resolve(doc, path).unwrap()
}

fn run(toml: &str) -> Prediction {
    predict(&ecg(toml), &ProfileSet::new(vec![toy_profile()]), None).unwrap()
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

const CHAIN: &str = r#"
name = "chain"
[defaults]
rate = 1000
[[calls]]
id = "a"
to = "A"
start_us = 0
duration_us = 1000
[[calls]]
id = "b"
parent = "a"
to = "B"
start_us = 100
duration_us = 800
[[calls]]
id = "c"
parent = "b"
to = "C"
start_us = 200
duration_us = 600
"#;

#[test]
fn sequential_chain_adds_every_hop() {
    // a: inbound only (20); b and c: outbound of the caller + inbound (40 each).
    let p = run(CHAIN);
    close(p.base_latency_us, 1000.0);
    close(p.figures.latency_overhead_us, 100.0);
    close(p.figures.predicted_latency_us, 1100.0);
    assert_eq!(p.figures.critical_path, ["a", "b", "c"]);
    assert!(!p.figures.critical_path_switched);
    // Components on the path: 5 traversals of http.
    close(p.figures.components["ipc"].latency_us, 20.0);
    close(p.figures.components["parsing"].latency_us, 40.0);
    // CPU: 5 traversals x 40 µs at 1000 rps = 0.2 cores.
    close(p.figures.cpu_overhead_cores, 0.2);
    close(
        p.figures.components["parsing"].cpu_cores,
        5.0 * 16.0 * 1000.0 / 1e6,
    );
}

const FANOUT: &str = r#"
name = "fanout"
[[calls]]
id = "root"
to = "R"
start_us = 0
duration_us = 1000
[[calls]]
id = "a"
parent = "root"
to = "A"
start_us = 100
duration_us = 500
[[calls]]
id = "b"
parent = "root"
to = "B"
start_us = 110
duration_us = 790
"#;

#[test]
fn parallel_children_overlap_their_overhead() {
    // b ends last: 110 + 790 + 40 = 940; tail 100; root 1040 + 20 = 1060.
    let p = run(FANOUT);
    close(p.figures.predicted_latency_us, 1060.0);
    close(p.figures.latency_overhead_us, 60.0);
    assert_eq!(p.figures.critical_path, ["root", "b"]);
    // CPU counts every call, parallel or not: 5 traversals.
    close(p.figures.cpu_overhead_cores, 5.0 * 40.0 * 1000.0 / 1e6);
}

const SWITCH: &str = r#"
name = "switch"
[[calls]]
id = "root"
to = "R"
start_us = 0
duration_us = 1000
[[calls]]
id = "a"
parent = "root"
to = "A"
start_us = 50
duration_us = 900
[[calls]]
id = "b"
parent = "root"
to = "B"
start_us = 55
duration_us = 800
[[calls]]
id = "b1"
parent = "b"
to = "X"
start_us = 100
duration_us = 150
[[calls]]
id = "b2"
parent = "b"
to = "Y"
start_us = 300
duration_us = 200
[[calls]]
id = "b3"
parent = "b"
to = "Z"
start_us = 550
duration_us = 250
"#;

#[test]
fn critical_path_switches_when_overhead_is_added() {
    // a: 940 long, ends at 990. b's children run in sequence: b1 ends 45+190 = 235,
    // b2 starts 235 + 50 = 285 and ends 525, b3 starts 525 + 50 = 575 and ends 865;
    // b = 865 + 55 (tail) + 40 = 960, ends at 1015 > 990. root = 1015 + 50 + 20 = 1085.
    let p = run(SWITCH);
    assert_eq!(p.base_critical_path, ["root", "a"]);
    close(p.figures.predicted_latency_us, 1085.0);
    assert_eq!(p.figures.critical_path, ["root", "b", "b1", "b2", "b3"]);
    assert!(p.figures.critical_path_switched);
    // Overhead on the new path: 20 + 4 x 40 = 180; the latency grew by less (85), the
    // slack the new path had before.
    let on_path: f64 = p.figures.components.values().map(|c| c.latency_us).sum();
    close(on_path, 180.0);
    close(p.figures.latency_overhead_us, 85.0);
}

#[test]
fn a_service_without_sidecar_adds_nothing_on_its_side() {
    let toml = CHAIN.replace(
        "name = \"chain\"",
        "name = \"chain\"\n[services.B]\nsidecar = false",
    );
    // a: 20; b: outbound of A only (20); c: inbound of C only (20).
    let p = run(&toml);
    close(p.figures.latency_overhead_us, 60.0);
    close(p.figures.cpu_overhead_cores, 3.0 * 40.0 * 1000.0 / 1e6);
}

#[test]
fn mixed_modes_and_filters_price_each_side_with_its_own_config() {
    let toml = CHAIN.replace(
        "name = \"chain\"",
        "name = \"chain\"\n[services.A]\nmode = \"tcp\"\n[services.B]\nfilters = [\"lua\"]",
    );
    // a: inbound A tcp = 10; b: out A tcp 10 + in B http+lua 25 = 35; c: out B 25 + in C 20 = 45.
    let p = run(&toml);
    close(p.figures.latency_overhead_us, 90.0);
    close(p.figures.components["filter:lua"].latency_us, 10.0);
    close(
        p.figures.components["filter:lua"].cpu_cores,
        2.0 * 7.0 * 1000.0 / 1e6,
    );
    // CPU: tcp 20 x 2 + http 40 x 3 + lua 7 x 2 = 174 µs per request.
    close(p.figures.cpu_overhead_cores, 174.0 * 1000.0 / 1e6);
    assert!(!p.figures.components.contains_key("filter:fault"));
}

#[test]
fn per_call_rates_and_sizes_are_used() {
    let mut profile = toy_profile();
    let http = profile.modes.get_mut(&Mode::Http).unwrap();
    http.components
        .get_mut(&Component::Write)
        .unwrap()
        .latency
        .per_byte_us = 0.01;
    http.components
        .get_mut(&Component::Write)
        .unwrap()
        .cpu
        .per_byte_us = 0.02;
    let toml = CHAIN.replace(
        "id = \"c\"",
        "id = \"c\"\nrate = 10\nrequest_bytes = 1000\nresponse_bytes = 3000",
    );
    let p = predict(&ecg(&toml), &ProfileSet::new(vec![profile]), None).unwrap();
    // a, b at 100 bytes: write +1 µs each traversal; c at 2000 bytes: +20 µs each.
    close(
        p.figures.latency_overhead_us,
        100.0 + 1.0 + 2.0 + 2.0 * 20.0,
    );
    // CPU: a 1 traversal + b 2 at 1000 rps with 42 µs; c 2 at 10 rps with 80 µs.
    close(
        p.figures.cpu_overhead_cores,
        (3.0 * 42.0 * 1000.0 + 2.0 * 80.0 * 10.0) / 1e6,
    );
}

#[test]
fn overlaps_under_one_percent_of_the_parent_count_as_sequential() {
    // root is 1000 long: a tolerance of 10 µs. a ends at 505, b starts at 500: sequential.
    let seq = FANOUT
        .replace("duration_us = 500", "duration_us = 405")
        .replace(
            "start_us = 110\nduration_us = 790",
            "start_us = 500\nduration_us = 400",
        );
    let p = run(&seq);
    // a: 100 + 445 = 545; b: 545 + (500 - 505) = 540, + 440 = 980; root 980 + 100 + 20.
    close(p.figures.predicted_latency_us, 1100.0);
    assert_eq!(p.figures.critical_path, ["root", "a", "b"]);
    // 20 µs of overlap is over the tolerance: parallel.
    let par = seq
        .replace("start_us = 500", "start_us = 485")
        .replace("duration_us = 400", "duration_us = 415");
    let p = run(&par);
    // b: 485 + 455 = 940 ends last; root 940 + 100 + 20.
    close(p.figures.predicted_latency_us, 1060.0);
    assert_eq!(p.figures.critical_path, ["root", "b"]);
}

#[test]
fn explicit_after_overrides_the_timestamps() {
    // The fan-out's children overlap, but `b` says it runs after `a`.
    let toml = FANOUT.replace("duration_us = 790", "duration_us = 790\nafter = [\"a\"]");
    let p = run(&toml);
    // a ends 100 + 540 = 640; b starts 640 + (110 - 600) = 150, ends 150 + 830 = 980.
    close(p.figures.predicted_latency_us, 980.0 + 100.0 + 20.0);
    assert_eq!(p.figures.critical_path, ["root", "a", "b"]);
    // And `after = []` makes sequential-looking siblings parallel.
    let chain2 = SWITCH.replace("duration_us = 250", "duration_us = 250\nafter = []");
    let p = run(&chain2);
    // b3 now starts at its original offset 495 from b: ends 495 + 290 = 785 < b2's 525? no:
    // b's latest child is b3 (785); b = 785 + 55 + 40 = 880, ends 935 < a's 990.
    assert_eq!(p.figures.critical_path, ["root", "a"]);
    close(p.figures.predicted_latency_us, 990.0 + 50.0 + 20.0);
}

#[test]
fn zero_overhead_reproduces_the_original_timeline() {
    let e = ecg(SWITCH);
    let t = rebuild(&e, &vec![0.0; e.calls.len()]);
    for (k, c) in e.calls.iter().enumerate() {
        close(t.start_us[k], c.start_us);
        close(t.duration_us[k], c.duration_us);
    }
}

#[test]
fn a_speedup_scales_or_replaces_components() {
    let speedup = Speedup::parse(
        r#"
name = "uds"
[[change]]
component = "ipc"
percent = -50
[[change]]
component = "parsing"
modes = ["http"]
latency = { base_us = 2.0 }
[[change]]
component = "filter:lua"
cpu_percent = 100
"#,
        Path::new("s.toml"),
    )
    .unwrap();
    let profiles = ProfileSet::new(vec![toy_profile()]);
    let faster = profiles.with_speedup(&speedup).unwrap();
    let e = ecg(CHAIN);
    let p = predict(&e, &profiles, Some((&speedup, &faster))).unwrap();
    let s = p.speedup.as_ref().unwrap();
    // Per http traversal: ipc 4 -> 2, parsing 8 -> 2: 20 -> 12 µs; 5 traversals.
    close(s.figures.latency_overhead_us, 60.0);
    // CPU: ipc 8 -> 4, parsing unchanged (latency only): 40 -> 36 µs.
    close(s.figures.cpu_overhead_cores, 5.0 * 36.0 * 1000.0 / 1e6);
    assert_eq!(s.name, "uds");
    // The figures without the speedup are unchanged.
    close(p.figures.latency_overhead_us, 100.0);
}

#[test]
fn bad_speedups_are_refused() {
    let bad = |text: &str| {
        Speedup::parse(text, Path::new("s.toml"))
            .unwrap_err()
            .to_string()
    };
    assert!(bad("name = \"x\"\nchange = []").contains("no `[[change]]`"));
    assert!(bad("name = \"x\"\n[[change]]\ncomponent = \"ipc\"").contains("changes nothing"));
    assert!(
        bad("name = \"x\"\n[[change]]\ncomponent = \"dns\"\npercent = 1")
            .contains("unknown component `dns`")
    );
    assert!(
        bad("name = \"x\"\n[[change]]\ncomponent = \"ipc\"\npercent = -150")
            .contains("from -100 to 1000000, found -150")
    );
    assert!(
        bad("name = \"x\"\n[[change]]\ncomponent = \"ipc\"\npercent = 5\nlatency_percent = 3")
            .contains("both `percent` and `latency_percent`")
    );
    let s = Speedup::parse(
        "name = \"x\"\n[[change]]\ncomponent = \"filter:wasm\"\npercent = -10",
        Path::new("s.toml"),
    )
    .unwrap();
    let err = s.apply(&toy_profile()).unwrap_err().to_string();
    assert!(err.contains("matches nothing in profile `toy`"), "{err}");
}

#[test]
fn a_profile_lacking_a_mode_is_a_clear_error() {
    let toml = CHAIN.replace(
        "name = \"chain\"",
        "name = \"chain\"\n[services.C]\nmode = \"grpc\"",
    );
    let err = predict(&ecg(&toml), &ProfileSet::new(vec![toy_profile()]), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot predict test.toml: service `C` needs mode grpc, which profile `toy` lacks"
    );
    let toml = CHAIN.replace(
        "name = \"chain\"",
        "name = \"chain\"\n[services.C]\nplatform = \"arm\"",
    );
    let err = predict(&ecg(&toml), &ProfileSet::new(vec![toy_profile()]), None).unwrap_err();
    assert!(err.to_string().contains("runs on platform `arm`"), "{err}");
}

#[test]
fn services_pick_their_platform_profile() {
    let mut slow = toy_profile();
    slow.platform.id = "slow".into();
    for mp in slow.modes.values_mut() {
        for m in mp.components.values_mut() {
            m.latency.base_us *= 10.0;
        }
    }
    let toml = CHAIN.replace(
        "name = \"chain\"",
        "name = \"chain\"\n[services.C]\nplatform = \"slow\"",
    );
    let p = predict(
        &ecg(&toml),
        &ProfileSet::new(vec![toy_profile(), slow]),
        None,
    )
    .unwrap();
    // c: outbound of B on toy (20) + inbound of C on slow (200).
    close(p.figures.latency_overhead_us, 20.0 + 40.0 + 220.0);
}

#[test]
fn the_synthetic_graph_is_valid_and_predictable() {
    let doc = crate::ecg::synthetic::synthetic(2000, 7);
    let e = Ecg::resolve(doc.clone(), Path::new("synthetic")).unwrap();
    assert_eq!(e.calls.len(), 2000);
    let p = predict(&e, &ProfileSet::new(vec![Profile::paper()]), None).unwrap();
    assert!(p.figures.latency_overhead_us > 0.0);
    assert!(p.figures.cpu_overhead_cores > 0.0);
    // It round-trips through TOML.
    let again = EcgDoc::parse(&doc.to_toml(), Path::new("s.toml")).unwrap();
    assert_eq!(again, doc);
}

/// The rule written out the slow way: every call's predecessors from `Ecg::predecessors`.
fn rebuild_naive(e: &Ecg, overhead: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = e.calls.len();
    let (mut rel, mut dur) = (vec![0.0; n], vec![0.0; n]);
    fn visit(e: &Ecg, p: usize, overhead: &[f64], rel: &mut [f64], dur: &mut [f64]) {
        let call = &e.calls[p];
        for &k in &e.children[p] {
            visit(e, k, overhead, rel, dur);
        }
        let kids = &e.children[p];
        if kids.is_empty() {
            dur[p] = call.duration_us + overhead[p];
            return;
        }
        // Children in start order: predecessors are placed before the calls they precede.
        for &k in kids {
            let kc = &e.calls[k];
            let preds = e.predecessors(k);
            rel[k] = match preds.iter().map(|&a| rel[a] + dur[a]).reduce(f64::max) {
                Some(new_end) => {
                    let orig = preds.iter().map(|&a| e.calls[a].end_us());
                    (new_end + kc.start_us - orig.fold(f64::MIN, f64::max)).max(0.0)
                }
                None => kc.start_us - call.start_us,
            };
        }
        let new_end = kids
            .iter()
            .map(|&k| rel[k] + dur[k])
            .fold(f64::MIN, f64::max);
        let orig_end = kids
            .iter()
            .map(|&k| e.calls[k].end_us())
            .fold(f64::MIN, f64::max);
        dur[p] = (new_end + call.end_us() - orig_end).max(0.0) + overhead[p];
    }
    visit(e, e.root, overhead, &mut rel, &mut dur);
    (rel, dur)
}

#[test]
fn the_timeline_sweep_follows_the_predecessor_rule_of_the_ecg() {
    // Ties: `z` starts with `a` and lasts 0 µs (ended within the tolerance, but started
    // together: not a predecessor of `a`); `b` starts 5 µs before `a` ends (under 1 %);
    // `c` starts with `b`.
    let ties = ecg(r#"
name = "ties"
[[calls]]
id = "root"
to = "R"
start_us = 0
duration_us = 1000
[[calls]]
id = "z"
parent = "root"
to = "Z"
start_us = 100
duration_us = 0
[[calls]]
id = "a"
parent = "root"
to = "A"
start_us = 100
duration_us = 300
[[calls]]
id = "b"
parent = "root"
to = "B"
start_us = 395
duration_us = 200
[[calls]]
id = "c"
parent = "root"
to = "C"
start_us = 395
duration_us = 100
"#);
    let id = |name: &str| ties.calls.iter().position(|c| c.id == name).unwrap();
    assert!(ties.predecessors(id("a")).is_empty(), "z started with a");
    assert_eq!(ties.predecessors(id("b")), [id("z"), id("a")]);
    assert_eq!(ties.predecessors(id("c")), [id("z"), id("a")]);
    let mut graphs = vec![ties];
    for seed in 0..20 {
        let doc = crate::ecg::synthetic::synthetic(300, seed);
        graphs.push(Ecg::resolve(doc, Path::new("synthetic")).unwrap());
    }
    for e in &graphs {
        let overhead: Vec<f64> = (0..e.calls.len()).map(|k| (k % 7) as f64 * 13.0).collect();
        let t = rebuild(e, &overhead);
        let (rel, dur) = rebuild_naive(e, &overhead);
        for k in 0..e.calls.len() {
            close(t.duration_us[k], dur[k]);
            if let Some(p) = e.calls[k].parent {
                close(t.start_us[k] - t.start_us[p], rel[k]);
            }
        }
    }
}

#[test]
fn a_profile_whose_runs_show_a_split_prices_the_extra_reads_and_writes() {
    let http = crate::vocab::SidecarConfig::new(Mode::Http, vec![]).unwrap();
    let big = CHAIN.replace(
        "rate = 1000",
        "rate = 1000\nrequest_bytes = 64000\nresponse_bytes = 64000",
    );
    let e = ecg(&big);
    let linear = toy_profile();
    let mut stepped = toy_profile();
    stepped.runs = crate::model::split::stepped_runs(&http, &[100, 4000, 8000, 16000]);
    stepped.detect_splits();
    let p0 = predict(&e, &ProfileSet::new(vec![linear]), None).unwrap();
    let p1 = predict(&e, &ProfileSet::new(vec![stepped]), None).unwrap();
    // 64000 B is 16 units of 4000 B (the detected split): 64 reads and writes per traversal
    // against 53.9 on the least-squares line of the runs' counts, at 1.5 µs each: 15.2 µs per
    // traversal, on 5 traversals.
    let split = crate::model::split::detect(
        &crate::model::split::stepped_runs(&http, &[100, 4000, 8000, 16000]),
        &http,
    )
    .unwrap();
    let per_traversal = split.correction(64000.0).0;
    assert!((per_traversal - 15.19).abs() < 0.01, "{per_traversal}");
    close(
        p1.figures.latency_overhead_us - p0.figures.latency_overhead_us,
        5.0 * per_traversal,
    );
    // Read and write carry it, half each.
    let part = |p: &Prediction, name: &str| p.figures.components[name].latency_us;
    close(part(&p1, "read") - part(&p0, "read"), 2.5 * per_traversal);
    close(part(&p1, "write") - part(&p0, "write"), 2.5 * per_traversal);
}

/// Past the largest profiled size a negative slope is held (more bytes never cost less),
/// a positive one extrapolated; within the range, and for a profile without settings (the
/// paper's), the fit as it is.
#[test]
fn negative_slopes_are_not_extrapolated_past_the_profiled_sizes() {
    let mut profile = toy_profile();
    let http = profile.modes.get_mut(&Mode::Http).unwrap();
    http.components.get_mut(&Component::Ipc).unwrap().latency = LinearModel::new(4.0, -0.001);
    http.components.get_mut(&Component::Write).unwrap().latency = LinearModel::new(3.0, 0.001);
    let config: SidecarConfig = "http".parse().unwrap();
    let ipc = CostPart::Component(Component::Ipc).slot();
    let write = CostPart::Component(Component::Write).slot();
    // No settings: the line, even at 16 KB.
    let v = profile.traversal_cost(&config, 16_000.0);
    close(v.latency_us[ipc], 4.0 - 16.0);
    close(v.latency_us[write], 3.0 + 16.0);
    profile.settings = Some(crate::model::settings::Settings {
        sizes: vec![100, 2000, 4000],
        rates_pct: vec![],
        repeat: 1,
        requests: 1,
        block_requests: None,
        open_duration_ms: 400,
        max_rate_rps: BTreeMap::new(),
        elapsed_s: 1.0,
        pinned: true,
        chain: None,
        machine_load: None,
    });
    let v = profile.traversal_cost(&config, 16_000.0);
    close(v.latency_us[ipc], 4.0 - 4.0);
    close(v.latency_us[write], 3.0 + 16.0);
    let v = profile.traversal_cost(&config, 3_000.0);
    close(v.latency_us[ipc], 4.0 - 3.0);
}

#[test]
fn cpu_is_priced_loaded_or_unloaded_as_the_set_says() {
    // http notify costs 2 µs of CPU under load and 9 µs with one request in flight.
    let mut p = toy_profile();
    p.modes
        .get_mut(&Mode::Http)
        .unwrap()
        .components
        .get_mut(&Component::Notify)
        .unwrap()
        .cpu_unloaded = Some(LinearModel::new(9.0, 0.0));
    let e = ecg(CHAIN);
    let loaded = predict(&e, &ProfileSet::new(vec![p.clone()]), None).unwrap();
    let unloaded = predict(
        &e,
        &ProfileSet::new(vec![p]).with_cpu_price(crate::model::CpuPrice::Unloaded),
        None,
    )
    .unwrap();
    assert_eq!(loaded.cpu_price, crate::model::CpuPrice::Loaded);
    assert_eq!(unloaded.cpu_price, crate::model::CpuPrice::Unloaded);
    // 5 traversals x 7 µs more at 1000 rps; latency is not CPU.
    close(
        unloaded.figures.cpu_overhead_cores - loaded.figures.cpu_overhead_cores,
        5.0 * 7.0 * 1000.0 / 1e6,
    );
    close(
        unloaded.figures.latency_overhead_us,
        loaded.figures.latency_overhead_us,
    );
    // Components without an unloaded fit (all but notify) price the same both ways.
    close(
        unloaded.figures.components["ipc"].cpu_cores,
        loaded.figures.components["ipc"].cpu_cores,
    );
    // Older predictions have no field: loaded.
    let mut json = serde_json::to_value(&loaded).unwrap();
    json.as_object_mut().unwrap().remove("cpu_price");
    let back: Prediction = serde_json::from_value(json).unwrap();
    assert_eq!(back.cpu_price, crate::model::CpuPrice::Loaded);
}

mod proptests {
    //! Speedup profiles: arbitrary and hostile ones parse and apply, or fail in one line;
    //! one that applies leaves a valid profile whose costs are finite.

    use proptest::prelude::*;

    use super::*;
    use crate::model::Profile;
    use crate::test_support::hostile::{assert_one_line, hostile_f64, toml_number};

    fn check(text: &str) {
        let s = match Speedup::parse(text, Path::new("s.toml")) {
            Err(e) => return assert_one_line(&e),
            Ok(s) => s,
        };
        match s.apply(&Profile::paper()) {
            Err(e) => assert_one_line(&e),
            Ok(p) => {
                p.validate().unwrap();
                for mode in [Mode::Tcp, Mode::Http, Mode::Grpc] {
                    let c = p.traversal_cost(&SidecarConfig::plain(mode), 100.0);
                    assert!(c.latency_total().is_finite() && c.latency_total() >= -1e-6);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn proptest_speedup_arbitrary_text_never_panics(text in ".{0,200}") {
            check(&text);
        }

        #[test]
        fn proptest_speedup_hostile_changes_apply_or_fail_in_one_line(
            component in prop::sample::select(vec![
                "ipc", "read", "write", "notify", "parsing", "other", "filter:lua", "filter:nope", "",
            ]),
            percent in prop::option::of(hostile_f64()),
            latency_percent in prop::option::of(hostile_f64()),
            base in prop::option::of(hostile_f64()),
            per_byte in hostile_f64(),
        ) {
            let mut text = format!("name = \"s\"\n[[change]]\ncomponent = \"{component}\"\n");
            if let Some(p) = percent {
                text.push_str(&format!("percent = {}\n", toml_number(p)));
            }
            if let Some(p) = latency_percent {
                text.push_str(&format!("latency_percent = {}\n", toml_number(p)));
            }
            if let Some(b) = base {
                text.push_str(&format!(
                    "cpu = {{ base_us = {}, per_byte_us = {} }}\n",
                    toml_number(b),
                    toml_number(per_byte)
                ));
            }
            check(&text);
        }
    }
}

#[test]
fn an_absurd_percent_or_a_negative_result_is_refused() {
    let e = Speedup::parse(
        "name = \"s\"\n[[change]]\ncomponent = \"ipc\"\npercent = 1e308\n",
        Path::new("s.toml"),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("`percent` must be a number from -100 to 1000000, found 1e308"),
        "{e}"
    );
    let s = Speedup::parse(
        "name = \"s\"\n[[change]]\ncomponent = \"other\"\nmodes = [\"tcp\"]\nlatency = { base_us = -1000 }\n",
        Path::new("s.toml"),
    )
    .unwrap();
    let e = s
        .apply(&crate::model::Profile::paper())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("speedup `s` cannot apply to profile `")
            && e.contains("modes.tcp makes one traversal cost"),
        "{e}"
    );
}
