//! pier-scrape owns getting metrics out of processes: parsing the Prometheus text exposition
//! format 0.0.4 and OpenMetrics 1.0 (`exposition`), and scrape targets with their loops —
//! target labels, synthetic series (`up`, `scrape_duration_seconds`, …) and staleness markers
//! (`scrape`). It never stores samples itself: each scrape goes to a `SampleSink` (the daemon's
//! commits to pier-tsdb's write-ahead log).

pub mod backfill;
pub mod exposition;
pub mod scrape;
