//! The daemon's metrics pipeline: opens the time-series store under `.pier/tsdb` (replaying
//! its write-ahead log), scrapes every running replica of a service that declares `metrics`,
//! pier's own `/metrics` and the manifest's `[[metrics.targets]]`, and follows the supervisor
//! so that a scaled, restarted or replaced replica is picked up or dropped at once. The
//! staging environments' replicas come in as targets of their own (labelled `env="NAME"`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use pier_scrape::exposition::Limits;
use pier_scrape::scrape::{ScrapeManager, Target};
use pier_spec::Manifest;
use pier_supervisor::{ReplicaState, ReplicaStatus};
use pier_tsdb::{Tsdb, TsdbOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The store and the scrapers feeding it.
pub struct MetricsPipeline {
    pub tsdb: Arc<Tsdb>,
    pub scrapes: Arc<ScrapeManager>,
    follower: Option<JoinHandle<()>>,
    maintenance: Option<JoinHandle<()>>,
}

/// How often the store cuts its head into blocks, compacts and applies retention (more often
/// for blocks shorter than two minutes).
const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl MetricsPipeline {
    /// Opens the store (before any process starts, so a broken store starts nothing), with
    /// the manifest's retention.
    pub fn open(state_dir: &Path, manifest: &Manifest) -> anyhow::Result<MetricsPipeline> {
        let dir = state_dir.join("tsdb");
        let options = TsdbOptions {
            retention_ms: i64::try_from(manifest.metrics.retention.as_millis()).unwrap_or(i64::MAX),
            retention_bytes: manifest.metrics.retention_bytes,
            block_range_ms: i64::try_from(manifest.metrics.block_duration.as_millis())
                .unwrap_or(i64::MAX),
            ..TsdbOptions::default()
        };
        let tsdb = Tsdb::open(&dir, options)
            .with_context(|| format!("cannot open the metrics store in {}", dir.display()))?;
        let tsdb = Arc::new(tsdb);
        let scrapes = Arc::new(ScrapeManager::new(
            Arc::new(super::tsdb_sink::TsdbSink::start(tsdb.clone())),
            Limits::default(),
        ));
        Ok(MetricsPipeline {
            tsdb,
            scrapes,
            follower: None,
            maintenance: None,
        })
    }

    /// Cuts the head into blocks, compacts and applies retention every minute, off the async
    /// threads.
    pub fn maintain_periodically(&mut self) {
        let tsdb = self.tsdb.clone();
        let block = std::time::Duration::from_millis(
            u64::try_from(tsdb.options().block_range_ms).unwrap_or(u64::MAX),
        );
        let period = MAINTENANCE_EVERY.min(block / 2);
        self.maintenance = Some(tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            every.tick().await;
            loop {
                every.tick().await;
                let tsdb = tsdb.clone();
                let maintain = move || {
                    // Frees what the commit thread allocated: see `crate::allocator`.
                    let _no_cache = crate::allocator::WithoutThreadCache::start();
                    tsdb.maintain()
                };
                match tokio::task::spawn_blocking(maintain).await {
                    Ok(Ok(report)) => tracing::debug!(?report, "metrics store maintenance"),
                    Ok(Err(error)) => tracing::error!(%error, "metrics store maintenance failed"),
                    Err(error) => tracing::error!(%error, "metrics store maintenance panicked"),
                }
            }
        }));
    }

    /// Starts scraping, and keeps the targets in step with the supervisor's replicas and the
    /// staging environments' (`stages`).
    pub fn follow(
        &mut self,
        manifest: Arc<Manifest>,
        pier_metrics_url: String,
        mut replicas: watch::Receiver<Vec<ReplicaStatus>>,
        mut stages: watch::Receiver<Vec<Target>>,
    ) {
        let scrapes = self.scrapes.clone();
        self.follower = Some(tokio::spawn(async move {
            loop {
                let current = replicas.borrow_and_update().clone();
                let mut all = targets(&manifest, &pier_metrics_url, &current);
                all.extend(stages.borrow_and_update().iter().cloned());
                scrapes.set_targets(all);
                tokio::select! {
                    changed = replicas.changed() => if changed.is_err() { return },
                    changed = stages.changed() => if changed.is_err() { return },
                }
            }
        }));
    }

    /// Stops every scrape (writing staleness markers for all targets).
    pub async fn stop(mut self) {
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
        if let Some(maintenance) = self.maintenance.take() {
            maintenance.abort();
        }
        self.scrapes.shutdown().await;
    }
}

/// Every target to scrape now: running replicas of services with a metrics path, pier
/// itself, and the static targets.
pub fn targets(
    manifest: &Manifest,
    pier_metrics_url: &str,
    replicas: &[ReplicaStatus],
) -> Vec<Target> {
    let settings = &manifest.metrics;
    let mut targets = replica_targets(manifest, replicas);
    targets.push(Target {
        job: "pier".into(),
        url: pier_metrics_url.to_string(),
        labels: vec![("app".into(), manifest.app.clone())],
        interval: settings.interval,
        timeout: settings.timeout,
    });
    for target in &settings.targets {
        targets.push(Target {
            job: target.job.clone(),
            url: target.url.clone(),
            labels: target
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            interval: target.interval,
            timeout: target.timeout,
        });
    }
    targets
}

/// The running replicas of services with a metrics path, labelled with the app, replica and
/// release.
pub fn replica_targets(manifest: &Manifest, replicas: &[ReplicaStatus]) -> Vec<Target> {
    let settings = &manifest.metrics;
    let mut targets = Vec::new();
    for replica in replicas {
        let Some(service) = manifest.services.get(&replica.service) else {
            continue;
        };
        let (Some(path), Some(port), ReplicaState::Running) =
            (&service.metrics, replica.port, replica.state)
        else {
            continue;
        };
        targets.push(Target {
            job: replica.service.clone(),
            url: format!("http://127.0.0.1:{port}{path}"),
            labels: vec![
                ("app".into(), manifest.app.clone()),
                ("replica".into(), replica.name.clone()),
                ("release".into(), format!("v{}", replica.release)),
            ],
            interval: settings.interval,
            timeout: settings.timeout,
        });
    }
    targets
}

/// The store's own figures on pier's `/metrics`, read from [`Tsdb::stats`] at each scrape.
#[derive(Debug)]
pub struct TsdbCollector(pub Arc<Tsdb>);

impl prometheus_client::collector::Collector for TsdbCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let stats = self.0.stats();
        let gauges: [(&str, &str, i64); 7] = [
            ("pier_tsdb_blocks", "Blocks on disk", stats.blocks as i64),
            (
                "pier_tsdb_disk_bytes",
                "Bytes of the store on disk (blocks and write-ahead log)",
                stats.disk_bytes as i64,
            ),
            (
                "pier_tsdb_head_series",
                "Series in the head",
                stats.series as i64,
            ),
            (
                "pier_tsdb_head_samples",
                "Samples in the head",
                stats.samples as i64,
            ),
            (
                "pier_tsdb_head_chunks",
                "Chunks in the head",
                stats.chunks as i64,
            ),
            (
                "pier_tsdb_head_bytes",
                "Approximate memory of the head's chunks and labels",
                stats.head_bytes as i64,
            ),
            (
                "pier_tsdb_wal_bytes",
                "Bytes of the write-ahead log on disk",
                stats.wal_bytes as i64,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let counters: [(&str, &str, u64); 6] = [
            (
                "pier_tsdb_out_of_bounds_samples",
                "Samples rejected as older than the head (already persisted to a block)",
                stats.out_of_bounds_total,
            ),
            (
                "pier_tsdb_compactions",
                "Blocks merged into bigger ones",
                stats.compactions_total,
            ),
            (
                "pier_tsdb_samples_appended",
                "Samples stored",
                stats.samples_appended_total,
            ),
            (
                "pier_tsdb_out_of_order_samples",
                "Samples rejected as older than their series' last sample",
                stats.out_of_order_total,
            ),
            (
                "pier_tsdb_duplicate_samples",
                "Samples rejected for a timestamp their series already has with another value",
                stats.duplicate_total,
            ),
            (
                "pier_tsdb_wal_truncated_bytes",
                "Bytes of torn write-ahead log records dropped when the store was opened",
                stats.wal_truncated_bytes,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}
