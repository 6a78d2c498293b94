//! pier-scrape owns getting metrics out of processes: parsing the Prometheus text exposition
//! format 0.0.4 and OpenMetrics 1.0 (`exposition`), and — as it grows — scrape targets and the
//! scrape loop that feeds pier-tsdb. It never stores samples itself.

pub mod exposition;
