//! Throwaway experiment.
use gavel_core::{AdmissionReview, Limits, Subject};
use std::time::{Duration, Instant};

fn comp(path: &str) -> Vec<u8> {
    let m = std::fs::read(path).unwrap();
    wit_component::ComponentEncoder::default()
        .module(&m)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

fn main() {
    let rt = gavel_bench::gavel::runtime().unwrap();
    let inputs = gavel_bench::fixtures::load().unwrap();
    let pod = &inputs[0].body;
    let subject = Subject::Admission(AdmissionReview::from_json(pod).unwrap().request);
    let mut tiny_req = AdmissionReview::from_json(pod).unwrap().request;
    tiny_req.object = Some(r#"{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"team":"a","cost-center":"b"}},"spec":{"containers":[]}}"#.into());
    let tiny = Subject::Admission(tiny_req);
    let limits = Limits::default();
    let gl_s = rt
        .load_plugin(
            "gl-s",
            &gavel_bench::gavel::component("gpu-limits").unwrap(),
        )
        .unwrap();
    let gl_3 = rt
        .load_plugin("gl-3", &comp("/tmp/o3/gpu_limits.wasm"))
        .unwrap();
    let cost_s = rt
        .load_plugin("cost-s", &gavel_bench::gavel::component("cost").unwrap())
        .unwrap();
    let cost_3 = rt
        .load_plugin("cost-3", &comp("/tmp/o3/cost.wasm"))
        .unwrap();
    let hostile = rt
        .load_plugin("hostile", &std::fs::read(gavel_artifacts::HOSTILE).unwrap())
        .unwrap();
    let gls = r#"{"maxGpusPerContainer":4,"labels":["team","cost-center"]}"#;
    let costset: serde_json::Value =
        serde_json::from_str(gavel_bench::Policy::Cost.settings()).unwrap();
    let costset = costset.to_string();
    let none = r#"{"attack":"none"}"#;
    let mut cases: Vec<(&str, Box<dyn FnMut()>)> = vec![
        (
            "host from_json pod",
            Box::new(|| {
                std::hint::black_box(AdmissionReview::from_json(pod).unwrap());
            }),
        ),
        (
            "hostile none, pod subject",
            Box::new(|| {
                std::hint::black_box(hostile.evaluate(&subject, none, &limits));
            }),
        ),
        (
            "hostile none, tiny subject",
            Box::new(|| {
                std::hint::black_box(hostile.evaluate(&tiny, none, &limits));
            }),
        ),
        (
            "gpu-limits s, pod",
            Box::new(|| {
                std::hint::black_box(gl_s.evaluate(&subject, gls, &limits));
            }),
        ),
        (
            "gpu-limits s, pod, settings \"\"",
            Box::new(|| {
                std::hint::black_box(gl_s.evaluate(&subject, "", &limits));
            }),
        ),
        (
            "gpu-limits s, tiny",
            Box::new(|| {
                std::hint::black_box(gl_s.evaluate(&tiny, gls, &limits));
            }),
        ),
        (
            "gpu-limits O3, pod",
            Box::new(|| {
                std::hint::black_box(gl_3.evaluate(&subject, gls, &limits));
            }),
        ),
        (
            "cost s, pod",
            Box::new(|| {
                std::hint::black_box(cost_s.evaluate(&subject, &costset, &limits));
            }),
        ),
        (
            "cost s, pod, settings \"\"",
            Box::new(|| {
                std::hint::black_box(cost_s.evaluate(&subject, "", &limits));
            }),
        ),
        (
            "cost O3, pod",
            Box::new(|| {
                std::hint::black_box(cost_3.evaluate(&subject, &costset, &limits));
            }),
        ),
    ];
    let mut samples: Vec<Vec<Duration>> = cases.iter().map(|_| Vec::new()).collect();
    for (_, f) in cases.iter_mut() {
        for _ in 0..300 {
            f();
        }
    }
    for _round in 0..60 {
        for ((_, f), s) in cases.iter_mut().zip(samples.iter_mut()) {
            for _ in 0..100 {
                let t = Instant::now();
                f();
                s.push(t.elapsed());
            }
        }
    }
    for ((name, _), mut s) in cases.iter().zip(samples) {
        s.sort();
        println!(
            "{name:<34} median {:>7.1} µs  p10 {:>7.1}",
            s[s.len() / 2].as_secs_f64() * 1e6,
            s[s.len() / 10].as_secs_f64() * 1e6
        );
    }
}
