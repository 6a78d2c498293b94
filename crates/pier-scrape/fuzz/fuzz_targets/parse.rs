//! Fuzz target: arbitrary bytes through both exposition parsers, and anything that parses
//! through the OpenMetrics writer. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pier_scrape::exposition::{Format, Limits, parse, render_openmetrics};

fuzz_target!(|data: &[u8]| {
    for format in [Format::PrometheusText, Format::OpenMetrics] {
        if let Ok(parsed) = parse(data, format, &Limits::default()) {
            let _ = render_openmetrics(&parsed);
        }
    }
});
