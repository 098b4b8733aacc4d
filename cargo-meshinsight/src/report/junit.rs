//! The gate's verdict as JUnit XML, for CI systems that show test results: one test suite per
//! kind of primary metric (the part of its key before the first `/`: `fixture`, `total`), one
//! test case per primary metric named by its key, a failure for every regression
//! (coefficients only attribute, so they are no test cases). Without a baseline,
//! one skipped case says so.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::num::{sig3, signed_pct};
use crate::gate::verdict::CounterLine;
use crate::gate::{MetricResult, MetricVerdict, Outcome, Verdict};

/// The report's name, and the class name prefix of its cases.
const NAME: &str = "cargo-meshinsight";

/// Renders `verdict` as a JUnit XML document.
pub(crate) fn render(verdict: &Verdict) -> String {
    let mut report = Report::new(NAME);
    let mut suites: Vec<TestSuite> = Vec::new();
    for m in &verdict.metrics {
        let kind = m.key.split('/').next().unwrap_or("metric");
        let at = match suites.iter().position(|s| s.name.as_str() == kind) {
            Some(i) => i,
            None => {
                suites.push(TestSuite::new(kind));
                suites.len() - 1
            }
        };
        suites[at].add_test_case(case(m, kind));
    }
    if !verdict.counters.is_empty() {
        let mut suite = TestSuite::new("counter");
        for c in &verdict.counters {
            suite.add_test_case(counter_case(c));
        }
        suites.push(suite);
    }
    if verdict.verdict == Outcome::NoBaseline {
        let mut status = TestCaseStatus::skipped();
        status.set_message(verdict.summary.as_str());
        let mut case = TestCase::new("baseline", status);
        case.set_classname(format!("{NAME}.gate"));
        let mut suite = TestSuite::new("gate");
        suite.add_test_case(case);
        suites.push(suite);
    }
    report.add_test_suites(suites);
    let mut xml = report
        .to_string()
        .expect("a JUnit report of strings serializes");
    if !xml.ends_with('\n') {
        xml.push('\n');
    }
    xml
}

/// The test case of one metric: a failure when it regressed.
fn case(m: &MetricResult, kind: &str) -> TestCase {
    test_case(&m.key, kind, m.verdict, summary(m))
}

/// The test case of one work counter: a failure when it regressed.
fn counter_case(c: &CounterLine) -> TestCase {
    let line = format!(
        "base {} → head {} per traversal ({}{}, tolerance {}): {}",
        sig3(c.base),
        sig3(c.head),
        if c.delta > 0.0 { "+" } else { "" },
        sig3(c.delta),
        sig3(c.tolerance),
        c.verdict.code()
    );
    test_case(&c.key, "counter", c.verdict, line)
}

/// A case named `key` in class `kind` that prints `line`: a failure when `verdict` is a
/// regression.
fn test_case(key: &str, kind: &str, verdict: MetricVerdict, line: String) -> TestCase {
    let status = if verdict == MetricVerdict::Regression {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_message(format!("regression: {line}"))
            .set_type("regression");
        status
    } else {
        TestCaseStatus::success()
    };
    let mut case = TestCase::new(key, status);
    case.set_classname(format!("{NAME}.{kind}"));
    case.set_system_out(line);
    case
}

/// `base 41.1 µs → head 45.0 µs (+3.90 µs, +9.5%), p (adj.) 0.0012: regression`.
fn summary(m: &MetricResult) -> String {
    let value = |v: Option<f64>| v.map_or_else(|| "-".to_string(), sig3);
    let unit = m.unit.symbol();
    let mut line = format!(
        "base {} {unit} → head {} {unit}",
        value(m.base),
        value(m.head)
    );
    if let Some(d) = m.delta {
        let sign = if d > 0.0 { "+" } else { "" };
        line.push_str(&format!(" ({sign}{} {unit}", sig3(d)));
        if let Some(c) = m.change_pct {
            line.push_str(&format!(", {}%", signed_pct(c)));
        }
        line.push(')');
    }
    if let Some(p) = m.p_adjusted {
        line.push_str(&format!(", p (adj.) {p:.4}"));
    }
    if let Some(a) = m.parts.first() {
        line.push_str(&format!(", moved most: {}", a.part));
    }
    line.push_str(&format!(": {}", m.verdict.code()));
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::judge;
    use crate::test_support::{compare_settings, fitted, loaded, scaled, snap};
    use crate::vocab::{Component, Mode};

    #[test]
    fn a_regression_is_a_failure_of_its_metric_and_the_rest_pass() {
        let base = snap(fitted(0.001));
        let head = snap(scaled(fitted(0.001), Mode::Http, Component::Parsing, 1.3));
        let v = judge(&head, Some(&loaded(base)), None, &compare_settings());
        assert_eq!(v.verdict, Outcome::Regression);
        let xml = render(&v);
        let cases = xml.matches("<testcase ").count();
        assert_eq!(cases, v.metrics.len(), "{xml}");
        let failures = xml.matches("<failure ").count();
        let regressions = v
            .metrics
            .iter()
            .filter(|m| m.verdict == MetricVerdict::Regression)
            .count();
        assert!(regressions > 0);
        assert_eq!(failures, regressions, "{xml}");
        assert!(
            xml.contains(r#"<testsuite name="fixture""#)
                && xml.contains(r#"<testsuite name="total""#),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<testcase name="total/http/latency" classname="cargo-meshinsight.total""#
            ),
            "{xml}"
        );
        // The failing case says by how much, in a message a CI page shows.
        let failing = xml.lines().find(|l| l.contains("<failure ")).unwrap();
        assert!(failing.contains("message=\"regression: base "), "{failing}");
    }

    #[test]
    fn without_a_baseline_one_case_is_skipped() {
        let v = judge(&snap(fitted(0.001)), None, None, &compare_settings());
        let xml = render(&v);
        assert!(xml.contains("<skipped"), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 1, "{xml}");
        assert!(xml.starts_with("<?xml"), "{xml}");
    }

    #[test]
    fn a_work_counter_that_regressed_is_a_failure() {
        let base = snap(fitted(0.001));
        let mut v = judge(
            &base.clone(),
            Some(&loaded(base)),
            None,
            &compare_settings(),
        );
        v.counters.push(CounterLine {
            key: "counter/http/write/syscalls".into(),
            component: "write".into(),
            base: 2.0,
            head: 4.0,
            delta: 2.0,
            tolerance: 0.5,
            verdict: MetricVerdict::Regression,
        });
        let xml = render(&v);
        assert!(
            xml.contains(
                r#"<testsuite name="counter" tests="1" skipped="0" errors="0" failures="1">"#
            ),
            "{xml}"
        );
        assert!(xml.contains("regression: base 2.00 → head 4.00"), "{xml}");
    }
}
