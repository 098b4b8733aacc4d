//! Tests of the gate: the comparison on perturbed profiles, the baseline format, and the git
//! side on real temporary repositories.

use std::path::Path;

use super::baseline::{self, Baseline};
use super::compare::{CompareSettings, Spread, compare};
use super::verdict::confirmed;
use super::*;
use crate::model::Profile;
use crate::test_support::{Project, component_mut, ecgs, fitted, ipc_of, scaled, snap, version};
use crate::vocab::{Component, Mode};

fn settings() -> CompareSettings {
    CompareSettings {
        threshold_pct: 5.0,
        alpha: 0.05,
        correction: Correction::Holm,
    }
}

fn find<'a>(rs: &'a [MetricResult], key: &str) -> &'a MetricResult {
    rs.iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no metric {key}"))
}

#[test]
fn identical_snapshots_are_unchanged_everywhere() {
    let a = snap(fitted(0.01));
    let rs = compare(&a, &a.clone(), &Spread::new(), None, &settings());
    assert!(rs.len() > 80, "{}", rs.len());
    assert!(rs.iter().all(|r| r.verdict == MetricVerdict::Unchanged));
    assert!(rs.iter().all(|r| r.delta == Some(0.0)));
}

#[test]
fn a_slower_parsing_component_is_a_regression_attributed_to_parsing() {
    let base = snap(fitted(0.01));
    // HTTP parsing costs 122 µs of the 165 µs traversal: +20% of it is ~+15% per traversal.
    let head = snap(scaled(fitted(0.01), Mode::Http, Component::Parsing, 1.2));
    let rs = compare(&head, &base, &Spread::new(), None, &settings());
    let coef = find(&rs, "coef/http/parsing/latency/base");
    assert_eq!(coef.verdict, MetricVerdict::Regression);
    // A coefficient's change is relative to the mode's whole overhead (here 165 µs).
    let total: f64 = fitted(0.01).modes[&Mode::Http]
        .components
        .values()
        .map(|c| c.latency.base_us)
        .sum();
    let expected = 100.0 * 0.2 * 122.07 / total;
    assert!(
        (coef.change_pct.unwrap() - expected).abs() < 1e-9,
        "{coef:?}"
    );
    let fx = find(&rs, "fixture/chain-3hop/latency");
    assert_eq!(fx.verdict, MetricVerdict::Regression, "{fx:?}");
    let a = fx.attribution.as_ref().unwrap();
    assert_eq!(a.part, "parsing");
    // chain-3hop is all HTTP, so parsing explains the whole change.
    assert!((a.share_pct - 100.0).abs() < 1e-6, "{a:?}");
    // Three calls on the critical path, each crossing two sidecars (one for the entry call):
    // 5 traversals × 0.2 × 122.07 µs.
    assert!(
        (fx.delta.unwrap() - 5.0 * 0.2 * 122.07).abs() < 1e-6,
        "{fx:?}"
    );
    // Untouched components stay unchanged.
    assert_eq!(
        find(&rs, "coef/http/ipc/latency/base").verdict,
        MetricVerdict::Unchanged
    );
    let v = judge(&head, Some(&loaded(base)), &settings());
    assert_eq!(v.verdict, Outcome::Regression);
    assert_eq!(v.verdict.exit_code(), crate::exit::REGRESSION);
    assert!(v.summary.contains("mostly parsing"), "{}", v.summary);
    assert!(v.moved().any(|m| m.key == "coef/http/parsing/latency/base"));
}

/// The A/A experiment's false alarm (docs/gate.md): builtin's http parsing is about zero, and
/// a significant drift from −0.22 to +0.87 µs was "+496 %". Measured against the mode's
/// overhead it is under 1 %: unchanged. A real change of the same component still counts.
#[test]
fn a_drift_of_a_component_near_zero_is_measured_against_the_mode() {
    let with_parsing = |us: f64| {
        let mut p = fitted(0.01);
        let m = component_mut(&mut p, Mode::Http, None, Component::Parsing);
        m.latency.base_us = us;
        m.latency.base_se_us = Some(0.1);
        snap(p)
    };
    let rs = compare(
        &with_parsing(0.87),
        &with_parsing(-0.22),
        &Spread::new(),
        None,
        &settings(),
    );
    let coef = find(&rs, "coef/http/parsing/latency/base");
    assert!(coef.p.unwrap() < 1e-6, "{coef:?}"); // significant ...
    assert!(coef.change_pct.unwrap() < 5.0, "{coef:?}"); // ... but small
    assert_eq!(coef.verdict, MetricVerdict::Unchanged);
    let rs = compare(
        &with_parsing(30.0),
        &with_parsing(-0.22),
        &Spread::new(),
        None,
        &settings(),
    );
    assert_eq!(
        find(&rs, "coef/http/parsing/latency/base").verdict,
        MetricVerdict::Regression
    );
}

/// A run-to-run spread known from three baseline versions has two degrees of freedom: the
/// test is Student's t with Welch–Satterthwaite degrees of freedom, not a z test that treats
/// the spread as exact.
#[test]
fn a_spread_from_few_baseline_versions_widens_the_test() {
    let key = "coef/http/parsing/latency/base";
    let base = snap(fitted(0.0001));
    // +24.4 µs, against a spread of 6 µs: z ≈ 4.07.
    let head = snap(scaled(fitted(0.0001), Mode::Http, Component::Parsing, 1.2));
    let spread = Spread::from([(key.to_string(), 6.0)]);
    let exact = find(&compare(&head, &base, &spread, None, &settings()), key)
        .p
        .unwrap();
    let three = find(&compare(&head, &base, &spread, Some(2.0), &settings()), key)
        .p
        .unwrap();
    assert!(exact < 1e-4, "{exact}");
    // Student's t, 4.07 with about 2 degrees of freedom (the fits' errors are negligible).
    assert!((0.05..0.06).contains(&three), "{three}");
}

fn loaded(b: Snapshot) -> Loaded {
    let baseline = Baseline::new(b, &[]);
    Loaded {
        history: vec![baseline.clone()],
        baseline,
        origin: "test".into(),
        commit: None,
    }
}

#[test]
fn a_change_under_the_threshold_passes_even_when_significant() {
    let base = snap(fitted(0.001));
    let head = snap(scaled(fitted(0.001), Mode::Http, Component::Parsing, 1.04));
    let rs = compare(&head, &base, &Spread::new(), None, &settings());
    let coef = find(&rs, "coef/http/parsing/latency/base");
    assert!(coef.p_adjusted.unwrap() < 1e-6, "{coef:?}");
    assert_eq!(coef.verdict, MetricVerdict::Unchanged);
}

#[test]
fn a_large_change_within_the_noise_is_not_significant() {
    // 30% standard errors: a 20% change is under one standard error.
    let base = snap(fitted(0.3));
    let head = snap(scaled(fitted(0.3), Mode::Http, Component::Parsing, 1.2));
    let rs = compare(&head, &base, &Spread::new(), None, &settings());
    let coef = find(&rs, "coef/http/parsing/latency/base");
    assert_eq!(coef.verdict, MetricVerdict::NotSignificant, "{coef:?}");
    let fx = find(&rs, "fixture/chain-3hop/latency");
    assert_eq!(fx.verdict, MetricVerdict::NotSignificant, "{fx:?}");
    assert!(fx.se.unwrap() > 0.0);
}

#[test]
fn history_spread_turns_a_regression_into_noise() {
    let base = snap(fitted(0.001));
    let head = snap(scaled(fitted(0.001), Mode::Http, Component::Parsing, 1.2));
    let quiet = compare(&head, &base, &Spread::new(), None, &settings());
    assert_eq!(
        find(&quiet, "coef/http/parsing/latency/base").verdict,
        MetricVerdict::Regression
    );
    // The baseline's history says this coefficient moves by ±40 µs from run to run.
    let mut spread = Spread::new();
    spread.insert("coef/http/parsing/latency/base".into(), 40.0);
    let noisy = compare(&head, &base, &spread, None, &settings());
    let r = find(&noisy, "coef/http/parsing/latency/base");
    assert_eq!(r.verdict, MetricVerdict::NotSignificant, "{r:?}");
    assert_eq!(r.spread, Some(40.0));
    assert!(r.se.unwrap() >= 40.0);
}

#[test]
fn a_faster_component_is_an_improvement() {
    let base = snap(fitted(0.01));
    let head = snap(scaled(fitted(0.01), Mode::Http, Component::Parsing, 0.8));
    let v = judge(&head, Some(&loaded(base)), &settings());
    assert_eq!(v.verdict, Outcome::Improvement);
    assert_eq!(v.verdict.exit_code(), 0);
    let r = v
        .metrics
        .iter()
        .find(|m| m.key == "fixture/chain-3hop/latency")
        .unwrap();
    assert_eq!(r.verdict, MetricVerdict::Improvement);
    assert_eq!(r.attribution.as_ref().unwrap().part, "parsing");
    assert!(
        (r.delta.unwrap() + 5.0 * 0.2 * 122.07).abs() < 1e-6,
        "{r:?}"
    );
}

#[test]
fn fixture_standard_error_follows_the_number_of_traversals() {
    let p = fitted(0.01);
    let s = snap(p.clone());
    let chain = s.fixture("chain-3hop").unwrap();
    // chain-3hop: 5 HTTP traversals on the critical path at s = 100 B; the variance of each
    // component's value is se_b² + s² se_p², summed over components, times 5².
    let mp = &p.modes[&Mode::Http];
    let var1: f64 = mp
        .components
        .values()
        .map(|m| m.latency.se_at(100.0).unwrap().powi(2))
        .sum();
    let want = (25.0 * var1).sqrt();
    let got = chain.latency_se_us.unwrap();
    assert!((got - want).abs() / want < 1e-6, "{got} vs {want}");
    // The paper profile has no fit statistics: no standard error.
    let bare = snap(Profile::paper());
    assert!(bare.fixtures.iter().all(|f| f.latency_se_us.is_none()));
}

#[test]
fn new_and_removed_metrics_are_reported_not_judged() {
    let base = snap(fitted(0.01));
    let mut p = fitted(0.01);
    p.modes.remove(&Mode::Grpc);
    let head = Snapshot::new(p, &ecgs()[..2]).unwrap();
    let rs = compare(&head, &base, &Spread::new(), None, &settings());
    assert_eq!(
        find(&rs, "coef/grpc/ipc/latency/base").verdict,
        MetricVerdict::Removed
    );
    assert_eq!(
        find(&rs, "fixture/mixed-modes/cpu").verdict,
        MetricVerdict::Removed
    );
    let rs = compare(&base, &head, &Spread::new(), None, &settings());
    assert_eq!(
        find(&rs, "fixture/mixed-modes/cpu").verdict,
        MetricVerdict::New
    );
    assert!(find(&rs, "fixture/mixed-modes/cpu").p.is_none());
}

#[test]
fn baseline_round_trips_and_bad_documents_are_refused_in_one_line() {
    let b = Baseline::new(snap(fitted(0.01)), &[]);
    let text = b.to_json();
    let back = Baseline::from_json(&text, "x.json").unwrap();
    assert_eq!(back.platform_id, "test-box");
    assert_eq!(back.snapshot.fixtures.len(), 3);
    // serde_json parses the last digit of some floats differently: no change is no change.
    let rs = compare(
        &back.snapshot,
        &b.snapshot,
        &Spread::new(),
        None,
        &settings(),
    );
    assert!(rs.iter().all(|r| r.delta == Some(0.0)), "{rs:?}");

    let cases = [
        ("{", "invalid baseline x.json"),
        ("{\"format_version\": 9}", "format_version is 9"),
        ("{\"platform_id\": \"a\"}", "missing `format_version`"),
        (
            &text.replacen(
                "\"platform_id\": \"test-box\"",
                "\"platform_id\": \"other\"",
                1,
            ),
            "platform_id is `other` but its profile is for `test-box`",
        ),
        (
            &text.replacen("\"history_versions\"", "\"history_version\"", 1),
            "unknown field `history_version`",
        ),
    ];
    for (doc, want) in cases {
        let e = Baseline::from_json(doc, "x.json").unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
        assert!(e.contains("x.json"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn spread_stored_at_update_comes_from_earlier_versions() {
    let v1 = Baseline::new(snap(fitted(0.01)), &[]);
    let v2 = Baseline::new(
        snap(scaled(fitted(0.01), Mode::Http, Component::Ipc, 1.02)),
        std::slice::from_ref(&v1),
    );
    assert_eq!(v2.history_versions, 2);
    let ipc = 12.73;
    let sd = v2.spread["coef/http/ipc/latency/base"];
    // Two values a step d apart: MSSD sd = d / √2.
    assert!((sd - 0.02 * ipc / 2f64.sqrt()).abs() < 1e-9, "{sd}");
    assert_eq!(v2.spread["coef/http/read/latency/base"], 0.0);
}

// ---- git ----

#[test]
fn history_reads_distinct_versions_on_the_first_parent_line_oldest_first() {
    let p = Project::new();
    for (i, f) in [1.0, 1.01, 0.99].iter().enumerate() {
        p.write("baselines/test-box.json", &version(*f).to_json());
        p.commit(&format!("baseline {i}"));
        // A commit that does not touch the baseline adds no version.
        p.write("src.txt", &format!("change {i}\n"));
        p.commit(&format!("code {i}"));
    }
    let head = p.repo.head().unwrap().peel_to_commit().unwrap().id();
    let l = baseline::load_at(
        &p.repo,
        head,
        Path::new("baselines/test-box.json"),
        "HEAD",
        20,
    )
    .unwrap()
    .unwrap();
    let ipcs: Vec<f64> = l.history.iter().map(ipc_of).collect();
    let want = [12.73, 12.73 * 1.01, 12.73 * 0.99];
    assert_eq!(ipcs.len(), 3, "{ipcs:?}");
    for (a, b) in ipcs.iter().zip(want) {
        assert!((a - b).abs() < 1e-9, "{ipcs:?}");
    }
    assert!((ipc_of(&l.baseline) - 12.73 * 0.99).abs() < 1e-9);
    let (spread, n) = l.spread();
    assert_eq!(n, 3);
    // MSSD over (1, 1.01, 0.99) × 12.73: diffs 0.01 and −0.02 of 12.73.
    let want = 12.73 * ((0.01f64.powi(2) + 0.02f64.powi(2)) / 4.0).sqrt();
    assert!(
        (spread["coef/http/ipc/latency/base"] - want).abs() < 1e-9,
        "{spread:?}"
    );
    // A depth of 2 keeps the newest two.
    let l2 = baseline::load_at(
        &p.repo,
        head,
        Path::new("baselines/test-box.json"),
        "HEAD",
        2,
    )
    .unwrap()
    .unwrap();
    assert_eq!(l2.history.len(), 2);
    assert!((ipc_of(&l2.history[0]) - 12.73 * 1.01).abs() < 1e-9);
}

#[test]
fn commit_file_commits_only_the_baseline_and_skips_an_identical_one() {
    let p = Project::new();
    // Something else is modified and staged: it must stay out of the baseline commit.
    p.write("README", "edited\n");
    let mut index = p.repo.index().unwrap();
    index.add_path(Path::new("README")).unwrap();
    index.write().unwrap();
    p.write("baselines/test-box.json", &version(1.0).to_json());
    let id = baseline::commit_file(p.root(), &p.baseline_file(), "meshinsight: baseline")
        .unwrap()
        .unwrap();
    let c = p.repo.find_commit(id).unwrap();
    assert_eq!(c.message().unwrap(), "meshinsight: baseline");
    let tree = c.tree().unwrap();
    assert!(tree.get_path(Path::new("baselines/test-box.json")).is_ok());
    let readme = tree.get_path(Path::new("README")).unwrap();
    let blob = p.repo.find_blob(readme.id()).unwrap();
    assert_eq!(blob.content(), b"demo\n");
    // The README edit is still staged; the baseline is not shown as modified.
    let statuses = p.repo.statuses(None).unwrap();
    let st: Vec<(String, git2::Status)> = statuses
        .iter()
        .map(|e| (e.path().unwrap().to_string(), e.status()))
        .collect();
    assert_eq!(
        st,
        vec![("README".to_string(), git2::Status::INDEX_MODIFIED)]
    );
    assert_eq!(
        baseline::commit_file(p.root(), &p.baseline_file(), "again").unwrap(),
        None
    );
}

#[test]
fn platform_ids_that_cannot_name_a_file_are_refused() {
    assert_eq!(
        baseline::file_name("xeon-6142_envoy-1.21+lua").unwrap(),
        "xeon-6142_envoy-1.21+lua.json"
    );
    for bad in ["", "../etc", "a/b", ".hidden", "a b"] {
        let e = baseline::file_name(bad).unwrap_err();
        assert!(matches!(e, GateError::BadPlatformId { .. }), "{bad}: {e}");
    }
}

#[test]
fn markdown_leaves_out_the_details_table_when_it_would_be_too_long_for_a_comment() {
    let base = snap(fitted(0.01));
    let head = snap(scaled(fitted(0.01), Mode::Http, Component::Parsing, 1.2));
    let mut v = judge(&head, Some(&loaded(base)), &settings());
    let short = crate::report::verdict::markdown(&v, Some("<!-- m -->"));
    assert!(short.contains("| grpc ipc cpu base"), "{short}");
    // Many fixtures: repeat the metrics until the table alone is far over the limit.
    let one = v.metrics.clone();
    for i in 0..100 {
        v.metrics.extend(one.iter().cloned().map(|mut m| {
            m.key = format!("{}-{i}", m.key);
            m
        }));
    }
    let long = crate::report::verdict::markdown(&v, Some("<!-- m -->"));
    assert!(
        long.len() < crate::report::verdict::MAX_MARKDOWN_BYTES,
        "{}",
        long.len()
    );
    assert!(long.contains("too long for a comment"));
    assert!(long.contains("not shown"));
    assert!(long.starts_with("<!-- m -->\n### ❌"));
}

/// The difference profile of a paired run: head − base coefficients with standard errors
/// `se` (as fitted from `n` matched points).
fn difference(head: &Profile, base: &Profile, se: f64, n: u64) -> Profile {
    let mut d = head.clone();
    for (mode, mp) in d.modes.iter_mut() {
        let bmp = &base.modes[mode];
        let filters = mp
            .filters
            .iter_mut()
            .map(|(f, fp)| (&mut fp.components, &bmp.filters[f].components));
        for (components, base_components) in
            std::iter::once((&mut mp.components, &bmp.components)).chain(filters)
        {
            for (c, cm) in components.iter_mut() {
                let b = &base_components[c];
                for (m, bm) in [(&mut cm.latency, &b.latency), (&mut cm.cpu, &b.cpu)] {
                    m.base_us -= bm.base_us;
                    m.per_byte_us -= bm.per_byte_us;
                    m.base_se_us = Some(se);
                    m.per_byte_se_us = Some(1e-5);
                    m.cov = Some(0.0);
                    m.n = Some(n);
                }
            }
        }
    }
    d
}

/// A filter that got slower in a paired run is judged on the filter's paired differences,
/// named, and moves the fixture that uses it (mixed-modes: fault and ratelimit on `edge`).
#[test]
fn a_paired_filter_regression_is_judged_on_its_differences() {
    use crate::vocab::Filter;
    let base = fitted(0.05);
    let mut head = fitted(0.05);
    let fault = component_mut(&mut head, Mode::Http, Some(Filter::Fault), Component::Other);
    fault.latency.base_us += 200.0;
    fault.cpu.base_us += 200.0;
    let diff = difference(&head, &base, 0.1, 6);
    let errors = snap(paired::with_difference_errors(&head, &diff));
    let v = judge_paired(
        &snap(head),
        &snap(base),
        &errors,
        paired_info(),
        &settings(),
    );
    assert_eq!(v.verdict, Outcome::Regression, "{}", v.summary);
    let coef = find(&v.metrics, "coef/http+fault/other/latency/base");
    assert_eq!(coef.verdict, MetricVerdict::Regression);
    assert_eq!(coef.se, Some(0.1));
    assert_eq!(
        find(&v.metrics, "fixture/mixed-modes/latency").verdict,
        MetricVerdict::Regression
    );
}

fn paired_info() -> PairedInfo {
    PairedInfo {
        base: "builtin".into(),
        head: "builtin --extra-work-us 20".into(),
        base_commit: None,
        points: 6,
        test: "paired t".into(),
    }
}

#[test]
fn paired_regression_is_judged_on_the_differences_and_names_the_component() {
    let base = fitted(0.05);
    // Other: 6.3 of the 165 µs of an http traversal; five times as much is +15 %.
    let head = scaled(fitted(0.05), Mode::Http, Component::Other, 5.0);
    let diff = difference(&head, &base, 0.1, 6);
    let errors = snap(paired::with_difference_errors(&head, &diff));
    let v = judge_paired(
        &snap(head),
        &snap(base.clone()),
        &errors,
        paired_info(),
        &settings(),
    );
    assert_eq!(v.verdict, Outcome::Regression, "{}", v.summary);
    let coef = find(&v.metrics, "coef/http/other/latency/base");
    assert_eq!(coef.verdict, MetricVerdict::Regression);
    // The error is the difference's, not the two fits' combined.
    assert_eq!(coef.se, Some(0.1));
    assert!(v.moved().all(|m| m.key.contains("/http/other/")), "{v:?}");
    let fx = find(&v.metrics, "fixture/chain-3hop/latency");
    assert_eq!(fx.attribution.as_ref().unwrap().part, "other");
    assert!(v.paired.is_some());
    let json = crate::report::verdict::render(&v, crate::report::Format::Json);
    assert!(json.contains("\"paired\""), "{json}");
    let table = crate::report::verdict::render(&v, crate::report::Format::Table);
    assert!(table.contains("Gate: paired regression:"), "{table}");
    assert!(table.contains("PAIRED: base `builtin`"), "{table}");
    let md = crate::report::verdict::render(&v, crate::report::Format::Markdown);
    assert!(
        md.contains("paired regression") && md.contains("PAIRED"),
        "{md}"
    );

    // The same change with differences as noisy as the change: not significant.
    let head = scaled(fitted(0.05), Mode::Http, Component::Other, 5.0);
    let diff = difference(&head, &base, 40.0, 6);
    let errors = snap(paired::with_difference_errors(&head, &diff));
    let v = judge_paired(
        &snap(head),
        &snap(base),
        &errors,
        paired_info(),
        &settings(),
    );
    assert_eq!(v.verdict, Outcome::Pass, "{}", v.summary);
    assert_eq!(
        find(&v.metrics, "coef/http/other/latency/base").verdict,
        MetricVerdict::NotSignificant
    );
}

#[test]
fn paired_identical_sides_pass_and_too_few_points_are_never_significant() {
    let base = fitted(0.05);
    let diff = difference(&base, &base, 0.1, 6);
    let errors = snap(paired::with_difference_errors(&base, &diff));
    let v = judge_paired(
        &snap(base.clone()),
        &snap(base.clone()),
        &errors,
        paired_info(),
        &settings(),
    );
    assert_eq!(v.verdict, Outcome::Pass, "{}", v.summary);

    // Two points leave no degrees of freedom: no test, no regression.
    let head = scaled(fitted(0.05), Mode::Http, Component::Other, 2.0);
    let diff = difference(&head, &base, 0.1, 2);
    let errors = snap(paired::with_difference_errors(&head, &diff));
    let v = judge_paired(
        &snap(head),
        &snap(base),
        &errors,
        paired_info(),
        &settings(),
    );
    assert_eq!(v.verdict, Outcome::Pass, "{}", v.summary);
    assert!(v.notes.iter().any(|n| n.contains("too few matched points")));
}

/// The A/A false alarm of docs/gate.md: one measurement's tcp IPC is up, the next one's
/// is not. Measured twice, the regression does not repeat: unconfirmed, and the gate passes.
/// A real change repeats in both measurements and stays a regression.
#[test]
fn a_regression_counts_only_when_a_second_measurement_repeats_it() {
    let base = snap(fitted(0.01));
    let episode = snap(scaled(fitted(0.01), Mode::Tcp, Component::Ipc, 2.0));
    let calm = snap(fitted(0.01));
    let first = judge(&episode, Some(&loaded(base.clone())), &settings());
    assert_eq!(first.verdict, Outcome::Regression);
    let second = judge(&calm, Some(&loaded(base.clone())), &settings());
    let v = confirmed(&first, second);
    assert_eq!(v.verdict, Outcome::Pass, "{}", v.summary);
    assert_eq!(v.verdict.exit_code(), 0);
    assert_eq!(v.counts.regression, 0);
    assert!(v.counts.unconfirmed > 0);
    let ipc = find(&v.metrics, "coef/tcp/ipc/latency/base");
    assert_eq!(ipc.verdict, MetricVerdict::Unconfirmed);
    assert_eq!(ipc.verdict.code(), "unconfirmed");
    let f = ipc.first.as_ref().unwrap();
    assert_eq!(f.verdict, MetricVerdict::Regression);
    assert!(f.change_pct.unwrap() > 5.0);
    assert_eq!(ipc.change_pct, Some(0.0));
    assert!(
        v.summary.contains("not repeated by a second measurement"),
        "{}",
        v.summary
    );
    assert!(
        v.notes.iter().any(|n| n.contains("measured twice")),
        "{:?}",
        v.notes
    );
    // Untouched metrics carry no first measurement.
    assert!(
        find(&v.metrics, "coef/http/parsing/latency/base")
            .first
            .is_none()
    );

    let slower = || snap(scaled(fitted(0.01), Mode::Http, Component::Parsing, 1.2));
    let first = judge(&slower(), Some(&loaded(base.clone())), &settings());
    let second = judge(&slower(), Some(&loaded(base)), &settings());
    let v = confirmed(&first, second);
    assert_eq!(v.verdict, Outcome::Regression);
    let parsing = find(&v.metrics, "coef/http/parsing/latency/base");
    assert_eq!(parsing.verdict, MetricVerdict::Regression);
    assert_eq!(
        parsing.first.as_ref().unwrap().verdict,
        MetricVerdict::Regression
    );
    assert!(v.summary.contains("mostly parsing"), "{}", v.summary);
    // The JSON report round-trips with the new fields.
    let json = serde_json::to_string(&v).unwrap();
    assert_eq!(Verdict::from_json(&json, Path::new("r.json")).unwrap(), v);
}

/// The committed baseline of a measured profile keeps the fixture results the version that
/// wrote it predicted; its profile predates the stored split, which is found again when it is
/// read, so predicting the fixtures anew gives the same figures bit for bit.
#[test]
fn a_measured_baseline_is_predicted_again_to_the_bit_with_its_split() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = root.join("baselines/builtin-amd-epyc-2c-linux-6.18.json");
    let b = Baseline::from_json(&std::fs::read_to_string(&file).unwrap(), "b").unwrap();
    let grpc = &b.snapshot.profile.modes[&Mode::Grpc];
    assert!(grpc.split.is_some(), "its grpc runs show a split");
    let mut without_split = b.snapshot.profile.clone();
    for mp in without_split.modes.values_mut() {
        mp.split = None;
    }
    let (with, without) = (
        crate::predict::ProfileSet::new(vec![b.snapshot.profile.clone()]),
        crate::predict::ProfileSet::new(vec![without_split]),
    );
    let mut moved = 0;
    for f in &b.snapshot.fixtures {
        let ecg = crate::test_support::load_ecg(&root.join(&f.file));
        let again = crate::predict::predict(&ecg, &with, None).unwrap().figures;
        assert_eq!(
            again.latency_overhead_us, f.latency_overhead_us,
            "{}",
            f.name
        );
        assert_eq!(again.cpu_overhead_cores, f.cpu_overhead_cores, "{}", f.name);
        let linear = crate::predict::predict(&ecg, &without, None)
            .unwrap()
            .figures;
        if linear.latency_overhead_us != f.latency_overhead_us {
            moved += 1;
        }
    }
    assert!(
        moved > 0,
        "some fixture uses grpc, whose split the prediction carries"
    );
}
