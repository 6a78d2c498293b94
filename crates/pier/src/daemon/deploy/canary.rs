//! Canary deploys: `pier deploy --canary PCT` builds and releases as a deploy does, then starts
//! one replica of each public service running the new release beside the current replicas,
//! waits until they are ready, records the canary and has the router send it PCT % of the
//! clients (sticky by the split key, salted per canary). `pier promote` rolls the canary's
//! release out fully with the normal rolling update (its replicas count as new ones);
//! `pier deploy --abort` takes the canary out of the routing, drains and stops its replicas
//! and marks the release aborted. While a canary runs, every other change is refused.

use std::sync::Arc;

use pier_api::{ApiError, OutcomeDto, ProgressDto};
use pier_spec::Manifest;
use pier_state::{Release, ReleaseStatus};
use pier_supervisor::ReplicaRef;
use tokio::sync::mpsc;

use super::command::CommandFailure;
use super::pipeline::{Job, Kind, plain};
use super::progress::{self, Progress};
use super::{Inner, artifacts};
use crate::daemon::edge::CanaryRoute;

/// The smallest and largest share a canary may get, in percent.
const MIN_PERCENT: f64 = 1.0;
const MAX_PERCENT: f64 = 99.0;

/// The canary running now.
#[derive(Debug, Clone)]
pub struct Active {
    pub release: Release,
    pub manifest: Manifest,
    pub replicas: Vec<ReplicaRef>,
    pub percent: f64,
}

/// A canary's share: 1 to 99 percent, decimals allowed (to a hundredth).
pub fn check_percent(percent: f64) -> Result<f64, ApiError> {
    if !percent.is_finite() || !(MIN_PERCENT..=MAX_PERCENT).contains(&percent) {
        return Err(ApiError::bad_request(format!(
            "--canary takes the percentage of clients the new release gets, from 1 to 99 \
             (decimals allowed, like 2.5), not {percent}; nothing was deployed"
        )));
    }
    Ok((percent * 100.0).round() / 100.0)
}

/// Hundredths of a percent, as the router's split counts.
fn basis_points(percent: f64) -> u32 {
    (percent * 100.0).round() as u32
}

/// `v3 is the canary: …`, the outcome of a canary deploy.
pub fn started_message(job: &Job) -> String {
    let percent = match job.kind {
        Kind::Canary { percent } => percent,
        _ => 0.0,
    };
    format!(
        "v{} is the canary with {percent}% of the clients; `pier promote` rolls it out, \
         `pier deploy --abort` removes it",
        job.release.version
    )
}

/// The services a canary runs a replica of: the public services with a port that the new and
/// the running release both have (the router's rules route to them).
fn services(new: &Manifest, running: &Manifest) -> Vec<String> {
    new.services
        .values()
        .filter(|s| s.public && s.port)
        .filter(|s| {
            running
                .services
                .get(&s.name)
                .is_some_and(|r| r.public && r.port)
        })
        .map(|s| s.name.clone())
        .collect()
}

/// The canary step of a canary deploy: replicas started and ready, the canary recorded, then
/// the router's split turned on. On failure nothing of the canary remains.
pub async fn start(
    inner: &Arc<Inner>,
    job: &Job,
    percent: f64,
    progress: &Arc<Progress>,
) -> Result<(), CommandFailure> {
    let version = job.release.version;
    let running = inner
        .supervisor
        .current_release()
        .await
        .map_err(|e| plain(e.to_string()))?;
    let services = services(&job.manifest, &running.manifest);
    if services.is_empty() {
        return Err(plain(
            "a canary needs a public service with a port that the current release has too; \
             deploy without --canary"
                .into(),
        ));
    }
    // Their own pool before they start, so that they get no traffic until the split is on.
    let mut route = CanaryRoute {
        version,
        services: services.clone(),
        split: None,
    };
    inner.canary_route.send_replace(Some(route.clone()));
    progress.step(&format!(
        "starting the canary: one replica of {} running v{version} beside v{}",
        services.join(", "),
        running.version
    ));
    let run = artifacts::run_release(&inner.paths, &job.release, job.manifest.clone());
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let echo = {
        let progress = progress.clone();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                progress.step(&line);
            }
        })
    };
    let started = inner
        .supervisor
        .start_beside(run, &services, Some(&tx))
        .await;
    let replicas = match started {
        Ok(replicas) => replicas,
        Err(failure) => {
            drop(tx);
            let _ = echo.await;
            inner.canary_route.send_replace(None);
            let mut log_tail = Vec::new();
            if let Some(replica) = &failure.replica {
                log_tail.push(format!("last log lines of {replica}:"));
            }
            log_tail.extend(failure.log_tail);
            return Err(CommandFailure {
                message: format!(
                    "{}; the canary was removed and v{} still serves all traffic",
                    failure.reason, running.version
                ),
                log_tail,
            });
        }
    };
    let salt = format!("canary-v{version}-{}", job.release.created_at_ms);
    let state = inner.state.clone();
    let recorded = {
        let salt = salt.clone();
        tokio::task::spawn_blocking(move || state.start_canary(version, percent, &salt)).await
    };
    let recorded = match recorded {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = recorded {
        inner.supervisor.stop_beside(&replicas, Some(&tx)).await;
        drop(tx);
        let _ = echo.await;
        inner.canary_route.send_replace(None);
        return Err(plain(format!("cannot record the canary: {e}")));
    }
    drop(tx);
    let _ = echo.await;
    *inner.canary.lock().unwrap_or_else(|e| e.into_inner()) = Some(Active {
        release: Release {
            status: ReleaseStatus::Canary,
            ..job.release.clone()
        },
        manifest: job.manifest.clone(),
        replicas,
        percent,
    });
    route.split = Some((basis_points(percent), salt));
    inner.canary_route.send_replace(Some(route));
    let message = format!(
        "the router sends {percent}% of the clients of {} to v{version} (sticky per client)",
        services.join(", ")
    );
    progress.step(&message);
    crate::daemon::recorder::record_now(&inner.state, "canary.split", "release", message).await;
    Ok(())
}

impl Inner {
    fn active(&self) -> Option<Active> {
        self.canary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A conflict while a canary runs: it must be promoted or aborted first.
    pub(super) fn no_canary(&self) -> Result<(), ApiError> {
        match self.active() {
            Some(active) => Err(ApiError::conflict(format!(
                "v{} is running as a canary; promote it with `pier promote` or remove it with \
                 `pier deploy --abort` first (nothing was changed)",
                active.release.version
            ))),
            None => Ok(()),
        }
    }

    /// What `pier scale` and `pier restart` are told while a canary runs.
    pub(super) fn canary_note(&self) -> Option<String> {
        self.active().map(|active| {
            format!(
                "the canary of v{} ({}% of the clients; `pier promote` or `pier deploy --abort` \
                 ends it)",
                active.release.version, active.percent
            )
        })
    }

    /// `pier promote`: the canary's release rolled out as a deploy is, without its build and
    /// release phase (they ran).
    pub(super) async fn promote(self: Arc<Self>) -> Result<mpsc::Receiver<ProgressDto>, ApiError> {
        let busy = self.begin("a promotion")?;
        let active = self.active().ok_or_else(|| {
            ApiError::bad_request(
                "there is no canary to promote; start one with `pier deploy --canary PCT` \
                 (nothing was changed)",
            )
        })?;
        let version = active.release.version;
        self.blocking(move |s| s.promote_canary(version)).await?;
        crate::daemon::recorder::record_now(
            &self.state,
            "canary.promoted",
            "release",
            format!("v{version}: the canary is promoted, rolling it out"),
        )
        .await;
        *self.canary.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // The canary's replicas join their service's pool: the rollout counts them as new.
        self.canary_route.send_replace(None);
        let release = Release {
            status: ReleaseStatus::Pending,
            ..active.release
        };
        self.start_recorded(
            busy,
            release,
            active.manifest,
            Kind::Promote,
            ReleaseStatus::Superseded,
        )
        .map(|(_, rx)| rx)
    }

    /// `pier deploy --abort`: the split off first, then the canary's replicas drained and
    /// stopped; the release is marked aborted.
    pub(super) async fn abort(self: Arc<Self>) -> Result<mpsc::Receiver<ProgressDto>, ApiError> {
        let busy = self.begin("an abort")?;
        let active = self.active().ok_or_else(|| {
            ApiError::bad_request("there is no canary to abort (nothing was changed)")
        })?;
        let version = active.release.version;
        self.blocking(move |s| s.abort_canary(version, "aborted with `pier deploy --abort`"))
            .await?;
        let (tx, rx) = mpsc::channel(progress::STREAM_BUFFER);
        let progress = Arc::new(Progress::new(
            tx,
            &self.paths.log(version),
            self.logs.clone(),
        ));
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("the abort of the canary v{version}"));
        let inner = self.clone();
        tokio::spawn(async move {
            inner.canary_route.send_modify(|route| {
                if let Some(route) = route {
                    route.split = None;
                }
            });
            progress.step(&format!(
                "v{version} gets no new requests; draining and stopping its replicas"
            ));
            let (sink, mut lines) = mpsc::unbounded_channel::<String>();
            let echo = {
                let progress = progress.clone();
                tokio::spawn(async move {
                    while let Some(line) = lines.recv().await {
                        progress.step(&line);
                    }
                })
            };
            inner
                .supervisor
                .stop_beside(&active.replicas, Some(&sink))
                .await;
            drop(sink);
            let _ = echo.await;
            inner.canary_route.send_replace(None);
            *inner.canary.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let current = inner.current().await.map(|r| r.version).unwrap_or(0);
            crate::daemon::recorder::record_now(
                &inner.state,
                "canary.aborted",
                "release",
                format!("v{version}: the canary was aborted with `pier deploy --abort`"),
            )
            .await;
            progress
                .done(OutcomeDto {
                    ok: true,
                    release: Some(version),
                    message: format!("v{version} was aborted; v{current} serves all traffic"),
                    log_tail: Vec::new(),
                })
                .await;
            drop(busy);
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(check_percent(10.0).unwrap(), 10.0);
        assert_eq!(check_percent(2.5).unwrap(), 2.5);
        assert_eq!(basis_points(2.5), 250);
        assert_eq!(basis_points(check_percent(33.333).unwrap()), 3333);
        for bad in [0.0, 0.5, 99.5, 150.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(check_percent(bad).is_err(), "{bad}");
        }
    }
}
