//! Prediction speed on a synthetic 10,000-call ECG (docs/performance.md).
//!
//! cargo bench -p cargo-meshinsight --bench predict

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

use cargo_meshinsight::ecg::{Ecg, synthetic::synthetic};
use cargo_meshinsight::model::Profile;
use cargo_meshinsight::predict::{ProfileSet, predict};

fn bench(c: &mut Criterion) {
    let profiles = ProfileSet::new(vec![Profile::paper()]);
    let doc = synthetic(10_000, 42);
    let text = doc.to_toml();
    c.bench_function("resolve 10k-call ECG", |b| {
        b.iter(|| Ecg::resolve(doc.clone(), Path::new("synthetic")).unwrap())
    });
    let ecg = Ecg::resolve(doc.clone(), Path::new("synthetic")).unwrap();
    c.bench_function("predict 10k-call ECG", |b| {
        b.iter(|| predict(&ecg, &profiles, None).unwrap())
    });
    c.bench_function("parse+resolve+predict 10k-call ECG from TOML", |b| {
        b.iter(|| {
            let doc = cargo_meshinsight::ecg::EcgDoc::parse(&text, Path::new("s.toml")).unwrap();
            let ecg = Ecg::resolve(doc, Path::new("s.toml")).unwrap();
            predict(&ecg, &profiles, None).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
