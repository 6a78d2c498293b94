//! Criterion benchmarks of the exposition parsers on a synthetic exporter payload of 10 000
//! samples (counters, gauges, a histogram per label set), in each format.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pier_scrape::exposition::{Format, Limits, parse, render_openmetrics};

/// A text-format payload that looks like a busy exporter's.
fn payload() -> Vec<u8> {
    let mut out = String::new();
    out.push_str(
        "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n",
    );
    for i in 0..2500 {
        out.push_str(&format!(
            "http_requests_total{{code=\"200\",handler=\"/api/v1/item/{i}\",method=\"GET\"}} {}\n",
            i * 7
        ));
    }
    out.push_str("# TYPE request_seconds histogram\n");
    for i in 0..625 {
        let labels = format!("handler=\"/h{i}\"");
        for (le, n) in [("0.1", 1), ("0.5", 3), ("1", 7), ("+Inf", 9)] {
            out.push_str(&format!(
                "request_seconds_bucket{{{labels},le=\"{le}\"}} {n}\n"
            ));
        }
        out.push_str(&format!("request_seconds_sum{{{labels}}} 4.25\n"));
        out.push_str(&format!("request_seconds_count{{{labels}}} 9\n"));
    }
    out.push_str("# TYPE temperature gauge\n");
    for i in 0..3750 {
        out.push_str(&format!("temperature{{sensor=\"s{i}\"}} {}.5\n", i % 40));
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let text = payload();
    let parsed = parse(&text, Format::PrometheusText, &limits).expect("text payload parses");
    let om = render_openmetrics(&parsed).into_bytes();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(parsed.samples.len() as u64));
    group.bench_function("prometheus_text", |b| {
        b.iter(|| parse(&text, Format::PrometheusText, &limits))
    });
    group.bench_function("openmetrics", |b| {
        b.iter(|| parse(&om, Format::OpenMetrics, &limits))
    });
    group.finish();
    c.bench_function("render_openmetrics", |b| {
        b.iter(|| render_openmetrics(&parsed))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
