//! pier-tsdb owns time-series storage: the series index with label postings and matchers,
//! samples in Gorilla-compressed chunks, and — as it grows — the head, the write-ahead log,
//! blocks on disk and retention. It knows nothing of scraping or PromQL; PromQL reads it
//! through a `Storage` trait.
