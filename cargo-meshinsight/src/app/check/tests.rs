//! Tests of `check`'s project side: the baseline at the merge base in a real git repository,
//! the export of the base tree, the profiler's settings from the project.

use std::path::Path;

use super::*;
use crate::test_support::{Project, ipc_of, version};
use crate::vocab::Mode;

fn settings_of(p: &Project) -> Settings {
    Settings::with_defaults(p.root())
}

#[test]
fn merge_base_baseline_ignores_the_branch_and_the_dirty_working_tree() {
    let p = Project::new();
    p.write("baselines/test-box.json", &version(1.0).to_json());
    p.commit("baseline v1 on main");
    p.checkout_new_branch("feature");
    // The branch commits its own baseline, and leaves another one uncommitted.
    p.write("baselines/test-box.json", &version(2.0).to_json());
    p.commit("feature changes its baseline");
    p.write("baselines/test-box.json", &version(3.0).to_json());
    // Main moves on after the branch point.
    p.switch("main");
    p.write("baselines/test-box.json", &version(1.5).to_json());
    p.commit("baseline v2 on main");
    p.switch("feature");
    p.write("baselines/test-box.json", &version(3.0).to_json());

    let s = settings_of(&p);
    let (l, origin) = load_baseline(&s, "test-box", &BaselineChoice::MergeBase, None).unwrap();
    let l = l.unwrap();
    // The merge base is main's first baseline commit: neither the branch's own commit, nor
    // main's later one, nor the working tree.
    assert!((ipc_of(&l.baseline) - 12.73).abs() < 1e-9, "{}", l.origin);
    assert!(origin.contains("merge base with main"), "{origin}");
    assert!(l.origin.contains("merge base with main"), "{}", l.origin);

    // An explicit revision reads that commit.
    let (l, _) = load_baseline(
        &s,
        "test-box",
        &BaselineChoice::Source(BaselineSource::GitRev("main".into())),
        None,
    )
    .unwrap();
    assert!((ipc_of(&l.unwrap().baseline) - 12.73 * 1.5).abs() < 1e-9);
    // HEAD is the branch's commit, not the dirty file.
    let (l, _) = load_baseline(
        &s,
        "test-box",
        &BaselineChoice::Source(BaselineSource::GitRev("HEAD".into())),
        None,
    )
    .unwrap();
    assert!((ipc_of(&l.unwrap().baseline) - 12.73 * 2.0).abs() < 1e-9);
    // A path source does read the working tree.
    let (l, _) = load_baseline(
        &s,
        "test-box",
        &BaselineChoice::Source(BaselineSource::Path(p.baseline_file())),
        None,
    )
    .unwrap();
    assert!((ipc_of(&l.unwrap().baseline) - 12.73 * 3.0).abs() < 1e-9);
}

#[test]
fn remote_tracking_target_is_preferred_and_a_missing_one_is_a_clear_error() {
    let p = Project::new();
    p.write("baselines/test-box.json", &version(1.0).to_json());
    let first = p.commit("v1");
    p.write("baselines/test-box.json", &version(1.2).to_json());
    p.commit("v2");
    // origin/main lags behind local main.
    p.repo
        .reference("refs/remotes/origin/main", first, true, "test")
        .unwrap();
    let s = settings_of(&p);
    let (l, _) = load_baseline(&s, "test-box", &BaselineChoice::MergeBase, None).unwrap();
    let l = l.unwrap();
    assert!((ipc_of(&l.baseline) - 12.73).abs() < 1e-9);
    assert!(l.origin.contains("origin/main"), "{}", l.origin);

    let e = load_baseline(&s, "test-box", &BaselineChoice::MergeBase, Some("develop")).unwrap_err();
    assert!(matches!(e, GateError::NoTargetBranch { .. }), "{e}");
    assert!(e.to_string().contains("`develop`"), "{e}");
    assert!(Error::from(e).hint().unwrap().contains("--baseline-rev"));
}

#[test]
fn no_baseline_at_the_revision_is_none_and_a_bad_one_names_file_and_commit() {
    let p = Project::new();
    let s = settings_of(&p);
    let (l, _) = load_baseline(&s, "test-box", &BaselineChoice::MergeBase, None).unwrap();
    assert!(l.is_none());

    p.write("baselines/test-box.json", "{\"format_version\": 1}");
    let c = p.commit("bad baseline");
    let e = load_baseline(&s, "test-box", &BaselineChoice::MergeBase, None).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("baselines/test-box.json"), "{text}");
    assert!(text.contains(&baseline::short(c)), "{text}");
    assert!(!text.contains('\n'), "{text}");

    // A file whose content is for another platform is refused.
    p.write("baselines/test-box.json", &version(1.0).to_json());
    p.commit("fixed");
    let e = load_baseline(&s, "other-box", &BaselineChoice::MergeBase, None);
    assert!(matches!(e, Ok((None, _))), "a missing file is no baseline");
    std::fs::copy(p.baseline_file(), p.root().join("baselines/other-box.json")).unwrap();
    p.commit("copied");
    let e = load_baseline(&s, "other-box", &BaselineChoice::MergeBase, None).unwrap_err();
    assert!(
        e.to_string()
            .contains("it is for platform `test-box`, not `other-box`"),
        "{e}"
    );
}

#[test]
fn the_base_tree_is_exported_from_git_without_touching_the_working_tree() {
    let p = Project::new();
    p.write("src/main.rs", "fn main() {}\n");
    p.write("run.sh", "#!/bin/sh\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            p.root().join("run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    let at = p.commit("base");
    // A later, dirty working tree: none of it may show in the export.
    p.write("src/main.rs", "fn main() { dirty() }\n");
    p.write("untracked.txt", "x");
    let dest = tempfile::tempdir().unwrap();
    crate::project::export::export_tree(&p.repo, at, dest.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.path().join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(!dest.path().join("untracked.txt").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest.path().join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    // The working tree is as it was.
    assert_eq!(
        std::fs::read_to_string(p.root().join("src/main.rs")).unwrap(),
        "fn main() { dirty() }\n"
    );
}

/// Without `modes` and `filters` keys, the profiler measures what the fixtures use: this
/// repository's own fixtures need all three modes and, for `mixed-modes.toml`, the fault and
/// ratelimit filters (which the builtin sidecar has); configured keys win. The gate's settings
/// are closed loop only, at 100 and 4000 bytes, unless `profile = {...}` says otherwise.
#[test]
fn measure_config_follows_the_fixtures_unless_configured() {
    use crate::app::head_profile::{gate_settings, measure_config};
    use crate::vocab::Filter;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut s = crate::project::config::Settings::with_defaults(root);
    s.fixtures = vec!["fixtures/ecg/*.toml".into()];
    let builtin = crate::harness::Sidecar::builtin();
    let cfg = measure_config(&s, builtin.clone(), gate_settings::ROUND_REPEAT).unwrap();
    assert_eq!(cfg.modes, vec![Mode::Tcp, Mode::Http, Mode::Grpc]);
    assert_eq!(cfg.filters, vec![Filter::Fault, Filter::Ratelimit]);
    assert_eq!(cfg.sizes, [100, 4000]);
    assert!(cfg.rate_fractions.is_empty());
    assert_eq!((cfg.repeat, cfg.requests, cfg.blocks()), (2, 500, (2, 250)));
    cfg.validate().unwrap();
    s.profile = Some(serde_json::json!({ "sizes": [100, 2000], "rates": [50], "repeat": 3 }));
    let cfg = measure_config(&s, builtin.clone(), gate_settings::ROUND_REPEAT).unwrap();
    assert_eq!(cfg.sizes, [100, 2000]);
    assert_eq!(cfg.rate_fractions, [0.5]);
    assert_eq!(cfg.repeat, 3);
    s.filters = vec![Filter::Lua];
    let cfg = measure_config(&s, builtin, gate_settings::UNPAIRED_REPEAT).unwrap();
    assert_eq!(cfg.filters, vec![Filter::Lua]);
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("has no lua filter"), "{err}");
}

/// The link to the CI run needs all three variables, each as GitHub sets it.
#[test]
fn the_run_link_is_made_from_githubs_variables_only() {
    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        }
    }
    let all = [
        ("GITHUB_SERVER_URL", "https://github.com/"),
        ("GITHUB_REPOSITORY", "octo/proxy"),
        ("GITHUB_RUN_ID", "123456"),
    ];
    assert_eq!(
        run_url(env(&all)).as_deref(),
        Some("https://github.com/octo/proxy/actions/runs/123456")
    );
    assert_eq!(run_url(env(&all[..2])), None);
    let bad = [
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "o/r?x=1#"),
        ("GITHUB_RUN_ID", "1"),
    ];
    assert_eq!(run_url(env(&bad)), None);
    let bad = [
        ("GITHUB_SERVER_URL", "javascript:alert(1)"),
        ("GITHUB_REPOSITORY", "o/r"),
        ("GITHUB_RUN_ID", "1"),
    ];
    assert_eq!(run_url(env(&bad)), None);
}

/// The head is `GITHUB_SHA` in GitHub Actions, else `HEAD` of the project.
#[test]
fn the_head_commit_is_githubs_or_the_repositorys() {
    let p = Project::new();
    p.write("x.txt", "x");
    let c = p.commit("one");
    let s = settings_of(&p);
    assert_eq!(head_commit(&s, |_| None), Some(c.to_string()));
    let sha = |k: &str| (k == "GITHUB_SHA").then(|| "abc123\n".to_string());
    assert_eq!(head_commit(&s, sha).as_deref(), Some("abc123"));
}

/// The check measures again after a regression or an improvement (either must repeat), not
/// after a pass, and never with `--no-confirm`.
#[test]
fn a_regression_or_an_improvement_is_measured_again() {
    use crate::gate::judge;
    use crate::test_support::{compare_settings, fitted, loaded, scaled, snap};
    use crate::vocab::Component;

    let loaded = loaded(snap(fitted(0.01)));
    let compare = compare_settings();
    let verdict_of = |factor: f64| {
        let head = snap(scaled(fitted(0.01), Mode::Http, Component::Parsing, factor));
        judge(&head, Some(&loaded), None, &compare)
    };
    let measured_again = |factor: f64, no_confirm: bool| {
        let config = CheckConfig {
            no_confirm,
            ..CheckConfig::default()
        };
        let (mut out, _) = Output::captured();
        let mut again = false;
        let v = confirm_by_measuring_again(&config, verdict_of(factor), "it", &mut out, |_| {
            again = true;
            Ok(verdict_of(1.0))
        })
        .unwrap();
        (again, v.verdict)
    };
    assert_eq!(measured_again(1.2, false), (true, Outcome::Pass));
    assert_eq!(measured_again(0.8, false), (true, Outcome::Pass));
    assert_eq!(measured_again(1.0, false), (false, Outcome::Pass));
    assert_eq!(measured_again(0.8, true), (false, Outcome::Improvement));
    assert_eq!(measured_again(1.2, true), (false, Outcome::Regression));
}
