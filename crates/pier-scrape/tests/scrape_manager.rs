//! The scrape loop and target manager against real HTTP servers on 127.0.0.1 (ephemeral ports)
//! and a collecting sink. Intervals are 100–200 ms; every wait polls a condition with a
//! deadline, woken by the sink's writes and the servers' requests — no sleeps as
//! synchronisation (the only `tokio::time::sleep` simulates a slow server).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use pier_scrape::exposition::{Limits, SCRAPE_ACCEPT};
use pier_scrape::scrape::{Health, SampleSink, ScrapeManager, ScrapedSample, Target};
use pier_tsdb::is_stale;
use tokio::sync::Notify;
use tokio::time::Instant;

const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

// ---------------------------------------------------------------------------------------------
// Test fixtures
// ---------------------------------------------------------------------------------------------

/// What a test server answers.
#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: Option<&'static str>,
    body: String,
    delay: Duration,
}

impl Reply {
    fn text(body: &str) -> Reply {
        Reply {
            status: 200,
            content_type: Some("text/plain; version=0.0.4; charset=utf-8"),
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

/// A metrics endpoint whose answer the test can change, recording each request's headers.
struct Server {
    addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    requests: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Server {
    async fn start(reply: Reply, events: Arc<Notify>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (r, q) = (Arc::clone(&reply), Arc::clone(&requests));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, q, events) = (Arc::clone(&r), Arc::clone(&q), Arc::clone(&events));
                let service = service_fn(move |req: Request<Incoming>| {
                    let reply = r.lock().unwrap().clone();
                    q.lock().unwrap().push(req.headers().clone());
                    events.notify_waiters();
                    async move {
                        if !reply.delay.is_zero() {
                            tokio::time::sleep(reply.delay).await;
                        }
                        let mut response = Response::builder().status(reply.status);
                        if let Some(ct) = reply.content_type {
                            response = response.header("Content-Type", ct);
                        }
                        Ok::<_, Infallible>(
                            response.body(Full::new(Bytes::from(reply.body))).unwrap(),
                        )
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Server {
            addr,
            reply,
            requests,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    fn instance(&self) -> String {
        self.addr.to_string()
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    fn hits(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn first_request(&self) -> HeaderMap {
        self.requests.lock().unwrap()[0].clone()
    }
}

/// Collects every batch and wakes waiters on each write.
struct Collect {
    batches: Mutex<Vec<Vec<ScrapedSample>>>,
    events: Arc<Notify>,
}

impl SampleSink for Collect {
    fn write(&self, batch: &mut Vec<ScrapedSample>) -> Result<(), String> {
        // A copy: the scrape loop clears and refills the buffer it lent.
        self.batches.lock().unwrap().push(batch.clone());
        self.events.notify_waiters();
        Ok(())
    }
}

impl Collect {
    /// Samples of metric `name` from instance `instance`, in write order.
    fn series(&self, name: &str, instance: &str) -> Vec<ScrapedSample> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .filter(|s| {
                s.labels.metric_name() == Some(name) && s.labels.get("instance") == Some(instance)
            })
            .cloned()
            .collect()
    }

    /// Non-stale `up` values of an instance.
    fn ups(&self, instance: &str) -> Vec<ScrapedSample> {
        self.series("up", instance)
            .into_iter()
            .filter(|s| !is_stale(s.value))
            .collect()
    }

    /// Every batch holding an `up` sample of `instance`.
    fn scrapes(&self, instance: &str) -> Vec<Vec<ScrapedSample>> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .filter(|b| {
                b.iter().any(|s| {
                    s.labels.metric_name() == Some("up")
                        && s.labels.get("instance") == Some(instance)
                        && !is_stale(s.value)
                })
            })
            .cloned()
            .collect()
    }
}

struct Fixture {
    events: Arc<Notify>,
    sink: Arc<Collect>,
    manager: ScrapeManager,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Fixture {
        let events = Arc::new(Notify::new());
        let sink = Arc::new(Collect {
            batches: Mutex::new(Vec::new()),
            events: Arc::clone(&events),
        });
        let manager = ScrapeManager::new(sink.clone(), limits);
        Fixture {
            events,
            sink,
            manager,
        }
    }

    async fn server(&self, reply: Reply) -> Server {
        Server::start(reply, Arc::clone(&self.events)).await
    }

    /// Polls `f` after every sink write or server request until it returns `Some`, for at
    /// most 5 s.
    async fn eventually<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let notified = self.events.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = f() {
                return v;
            }
            // A write may also be followed by a health update with no event of its own: wake
            // up now and then to look again.
            let wake = deadline.min(Instant::now() + Duration::from_millis(50));
            let _ = tokio::time::timeout_at(wake, notified).await;
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
        }
    }

    /// Waits until `instance` has at least `n` non-stale `up` samples.
    async fn scrapes(&self, instance: &str, n: usize) -> Vec<ScrapedSample> {
        self.eventually(&format!("{n} scrapes of {instance}"), || {
            let ups = self.sink.ups(instance);
            (ups.len() >= n).then_some(ups)
        })
        .await
    }

    fn health(&self, url: &str) -> pier_scrape::scrape::TargetHealth {
        self.manager
            .targets()
            .into_iter()
            .find(|t| t.url == url)
            .expect("target listed")
    }
}

fn target(job: &str, server: &Server, interval_ms: u64) -> Target {
    Target {
        job: job.to_string(),
        url: server.url(),
        labels: Vec::new(),
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(interval_ms * 3 / 4),
    }
}

fn value_of(batch: &[ScrapedSample], name: &str) -> f64 {
    batch
        .iter()
        .find(|s| s.labels.metric_name() == Some(name))
        .unwrap_or_else(|| panic!("{name} in batch"))
        .value
}

// ---------------------------------------------------------------------------------------------
// Successful scrapes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_get_target_labels_timestamps_and_synthetic_series() {
    let fx = Fixture::new();
    let server = fx
        .server(Reply::text(
            "# TYPE http_requests_total counter\n\
             http_requests_total{code=\"200\"} 5\n\
             http_requests_total{code=\"500\"} 1\n\
             with_timestamp 7 1700000000000\n",
        ))
        .await;
    let mut t = target("web", &server, 200);
    t.labels = vec![
        ("app".into(), "shop".into()),
        ("release".into(), String::new()),
    ];
    fx.manager.set_targets(vec![t]);
    let instance = server.instance();
    fx.scrapes(&instance, 2).await;

    let scrapes = fx.sink.scrapes(&instance);
    let first = &scrapes[0];
    let up = first
        .iter()
        .find(|s| s.labels.metric_name() == Some("up"))
        .unwrap();
    let ok = first
        .iter()
        .find(|s| s.labels.get("code") == Some("200"))
        .unwrap();
    assert_eq!(
        ok.labels.to_string(),
        format!(
            "{{__name__=\"http_requests_total\", app=\"shop\", code=\"200\", instance=\"{instance}\", job=\"web\"}}"
        )
    );
    assert_eq!(ok.value, 5.0);
    assert_eq!(ok.t_ms, up.t_ms, "samples carry the scrape's timestamp");
    let explicit = first
        .iter()
        .find(|s| s.labels.metric_name() == Some("with_timestamp"))
        .unwrap();
    assert_eq!(
        explicit.t_ms, 1_700_000_000_000,
        "explicit timestamps are honoured"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now_ms - up.t_ms).abs() < 10_000);

    // Synthetic series: target labels plus __name__.
    assert_eq!(
        up.labels.to_string(),
        format!("{{__name__=\"up\", app=\"shop\", instance=\"{instance}\", job=\"web\"}}")
    );
    for name in SYNTHETIC {
        assert!(
            first
                .iter()
                .any(|s| s.labels.metric_name() == Some(name) && s.t_ms == up.t_ms),
            "{name}"
        );
    }
    assert_eq!(value_of(first, "up"), 1.0);
    assert_eq!(value_of(first, "scrape_samples_scraped"), 3.0);
    assert_eq!(
        value_of(first, "scrape_samples_post_metric_relabeling"),
        3.0
    );
    assert_eq!(value_of(first, "scrape_series_added"), 3.0);
    let duration = value_of(first, "scrape_duration_seconds");
    assert!((0.0..0.15).contains(&duration), "{duration}");
    assert_eq!(value_of(&scrapes[1], "scrape_series_added"), 0.0);
    assert_eq!(value_of(&scrapes[1], "scrape_samples_scraped"), 3.0);
    assert!(scrapes[1][0].t_ms > first[0].t_ms);

    // Request headers.
    let headers = server.first_request();
    assert_eq!(headers["accept"], SCRAPE_ACCEPT);
    assert_eq!(headers["x-prometheus-scrape-timeout-seconds"], "0.15");
    assert!(
        headers["user-agent"].to_str().unwrap().starts_with("pier/"),
        "{:?}",
        headers["user-agent"]
    );

    // Health.
    let health = fx.health(&server.url());
    assert_eq!(health.health, Health::Up);
    assert_eq!(health.health.to_string(), "up");
    assert_eq!(health.job, "web");
    assert_eq!(health.instance, instance);
    assert_eq!(health.labels, vec![("app".to_string(), "shop".to_string())]);
    assert_eq!(health.last_error, None);
    assert_eq!(health.samples, 3);
    assert_eq!(health.interval, Duration::from_millis(200));
    assert_eq!(health.timeout, Duration::from_millis(150));
    assert!(health.last_scrape.is_some() && health.last_duration.is_some());
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openmetrics_content_type_is_parsed_as_openmetrics() {
    let fx = Fixture::new();
    let body = "# TYPE requests counter\nrequests_total 3 1700000000.5\n# EOF\n";
    let om = fx
        .server(Reply {
            content_type: Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            ..Reply::text(body)
        })
        .await;
    // The same body labelled as the text format fails: its timestamps are integer ms.
    let text = fx.server(Reply::text(body)).await;
    fx.manager
        .set_targets(vec![target("om", &om, 100), target("text", &text, 100)]);
    fx.scrapes(&om.instance(), 1).await;
    fx.scrapes(&text.instance(), 1).await;

    let requests = fx.sink.series("requests_total", &om.instance());
    assert_eq!(requests[0].t_ms, 1_700_000_000_500);
    assert_eq!(requests[0].value, 3.0);
    assert_eq!(fx.sink.ups(&om.instance())[0].value, 1.0);

    assert_eq!(fx.sink.ups(&text.instance())[0].value, 0.0);
    let error = fx.health(&text.url()).last_error.unwrap();
    assert!(error.starts_with("line 2, column "), "{error}");
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_job_and_instance_labels_are_exported() {
    let fx = Fixture::new();
    let server = fx
        .server(Reply::text(
            "m{job=\"batch\",instance=\"worker-1\",exported_job=\"x\",empty=\"\"} 1\n",
        ))
        .await;
    fx.manager.set_targets(vec![target("web", &server, 100)]);
    let instance = server.instance();
    fx.scrapes(&instance, 1).await;
    let m = &fx.sink.series("m", &instance)[0];
    assert_eq!(m.labels.get("job"), Some("web"));
    assert_eq!(m.labels.get("instance"), Some(instance.as_str()));
    assert_eq!(m.labels.get("exported_instance"), Some("worker-1"));
    assert_eq!(m.labels.get("exported_job"), Some("x"));
    assert_eq!(m.labels.get("exported_exported_job"), Some("batch"));
    assert_eq!(m.labels.get("empty"), None);
    fx.manager.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Staleness
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_series_gets_one_stale_marker_then_nothing() {
    let fx = Fixture::new();
    let server = fx.server(Reply::text("a 1\nb 2\n")).await;
    fx.manager.set_targets(vec![target("web", &server, 100)]);
    let instance = server.instance();
    fx.scrapes(&instance, 1).await;
    server.set(Reply::text("a 1\n"));

    let marker = fx
        .eventually("a stale marker for b", || {
            fx.sink
                .series("b", &instance)
                .into_iter()
                .find(|s| is_stale(s.value))
        })
        .await;
    // Two more scrapes after the marker.
    let after = fx.sink.ups(&instance).len() + 2;
    fx.scrapes(&instance, after).await;

    let b = fx.sink.series("b", &instance);
    let stale: Vec<_> = b.iter().filter(|s| is_stale(s.value)).collect();
    assert_eq!(stale.len(), 1, "{b:?}");
    assert!(
        is_stale(b.last().unwrap().value),
        "nothing after the marker"
    );
    // The marker carries the timestamp of the scrape that no longer had b.
    let batch = fx
        .sink
        .scrapes(&instance)
        .into_iter()
        .find(|batch| batch.iter().any(|s| is_stale(s.value)))
        .unwrap();
    let up_t = batch
        .iter()
        .find(|s| s.labels.metric_name() == Some("up"))
        .unwrap()
        .t_ms;
    assert_eq!(marker.t_ms, up_t);
    assert!(
        fx.sink
            .series("a", &instance)
            .iter()
            .all(|s| !is_stale(s.value))
    );
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_target_gets_stale_markers_for_all_its_series() {
    let fx = Fixture::new();
    let gone = fx.server(Reply::text("a 1\n")).await;
    let kept = fx.server(Reply::text("a 1\n")).await;
    fx.manager
        .set_targets(vec![target("web", &gone, 100), target("web", &kept, 100)]);
    fx.scrapes(&gone.instance(), 2).await;
    fx.scrapes(&kept.instance(), 1).await;

    fx.manager.set_targets(vec![target("web", &kept, 100)]);
    let listed: Vec<String> = fx.manager.targets().into_iter().map(|t| t.url).collect();
    assert_eq!(listed, vec![kept.url()]);
    fx.eventually("a stale marker for the removed target's up", || {
        fx.sink
            .series("up", &gone.instance())
            .last()
            .is_some_and(|s| is_stale(s.value))
            .then_some(())
    })
    .await;
    let hits = gone.hits();
    // The kept target goes on.
    let n = fx.sink.ups(&kept.instance()).len();
    fx.scrapes(&kept.instance(), n + 2).await;

    let mut stale_t = None;
    for name in SYNTHETIC.iter().chain(&["a"]) {
        let series = fx.sink.series(name, &gone.instance());
        let stale: Vec<_> = series.iter().filter(|s| is_stale(s.value)).collect();
        assert_eq!(stale.len(), 1, "{name}: {series:?}");
        assert!(is_stale(series.last().unwrap().value), "{name}");
        let last_real = series[series.len() - 2].t_ms;
        assert!(
            stale[0].t_ms > last_real,
            "{name}: marker after the last sample"
        );
        assert_eq!(*stale_t.get_or_insert(stale[0].t_ms), stale[0].t_ms);
    }
    // A request already on its way when the loop stopped may reach the server late; nothing
    // more.
    assert!(
        gone.hits() <= hits + 1,
        "a removed target is not scraped any more"
    );
    assert!(
        fx.sink
            .series("a", &kept.instance())
            .iter()
            .all(|s| !is_stale(s.value))
    );
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_stale_markers_for_every_target() {
    let fx = Fixture::new();
    let one = fx.server(Reply::text("a 1\nb 2\n")).await;
    let two = fx.server(Reply::text("c 1\n")).await;
    fx.manager
        .set_targets(vec![target("web", &one, 100), target("db", &two, 100)]);
    fx.scrapes(&one.instance(), 1).await;
    fx.scrapes(&two.instance(), 1).await;

    fx.manager.shutdown().await;
    assert!(fx.manager.targets().is_empty());
    for (server, names) in [(&one, vec!["a", "b"]), (&two, vec!["c"])] {
        for name in names.iter().chain(SYNTHETIC.iter()) {
            let series = fx.sink.series(name, &server.instance());
            assert!(
                series.last().is_some_and(|s| is_stale(s.value)),
                "{name} of {}: {series:?}",
                server.instance()
            );
        }
    }
    // Each series got exactly one marker.
    let stale = fx
        .sink
        .batches
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .filter(|s| is_stale(s.value))
        .count();
    assert_eq!(stale, 3 + 2 * SYNTHETIC.len());
}

// ---------------------------------------------------------------------------------------------
// Failing targets
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500_marks_the_target_down_and_it_recovers() {
    let fx = Fixture::new();
    let server = fx.server(Reply::text("a 1\n")).await;
    fx.manager.set_targets(vec![target("web", &server, 100)]);
    let instance = server.instance();
    fx.scrapes(&instance, 1).await;
    server.set(Reply {
        status: 500,
        ..Reply::text("oops")
    });
    let failed = fx
        .eventually("a failed scrape", || {
            fx.sink
                .scrapes(&instance)
                .into_iter()
                .find(|b| value_of(b, "up") == 0.0)
        })
        .await;
    // The failed scrape writes up=0, the other synthetic series, and marks `a` stale.
    assert_eq!(value_of(&failed, "scrape_samples_scraped"), 0.0);
    assert_eq!(value_of(&failed, "scrape_series_added"), 0.0);
    assert!(value_of(&failed, "scrape_duration_seconds") >= 0.0);
    assert!(is_stale(value_of(&failed, "a")));
    let health = fx.health(&server.url());
    assert_eq!(health.health, Health::Down);
    assert_eq!(
        health.last_error.as_deref(),
        Some("server returned HTTP status 500 Internal Server Error")
    );
    assert_eq!(health.samples, 0);

    server.set(Reply::text("a 1\n"));
    let recovered = fx
        .eventually("a successful scrape after the failure", || {
            let scrapes = fx.sink.scrapes(&instance);
            let last = scrapes.last()?;
            (value_of(last, "up") == 1.0 && scrapes.iter().any(|b| value_of(b, "up") == 0.0))
                .then(|| last.clone())
        })
        .await;
    assert_eq!(value_of(&recovered, "a"), 1.0);
    assert_eq!(value_of(&recovered, "scrape_series_added"), 1.0);
    let health = fx
        .eventually("health up", || {
            let h = fx.health(&server.url());
            (h.health == Health::Up).then_some(h)
        })
        .await;
    assert_eq!(health.last_error, None);
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_down_with_the_os_error() {
    let fx = Fixture::new();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/metrics");
    fx.manager.set_targets(vec![Target {
        job: "web".into(),
        url: url.clone(),
        labels: vec![],
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(80),
    }]);
    let instance = format!("127.0.0.1:{port}");
    let up = fx.scrapes(&instance, 1).await;
    assert_eq!(up[0].value, 0.0);
    let health = fx.health(&url);
    assert_eq!(health.health, Health::Down);
    let error = health.last_error.unwrap();
    assert!(
        error.starts_with(&format!("cannot connect to {instance}: ")),
        "{error}"
    );
    assert!(error.to_lowercase().contains("refused"), "{error}");
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_body_is_down_with_line_and_column() {
    let fx = Fixture::new();
    let server = fx.server(Reply::text("a 1\nb{x=1} 2\n")).await;
    fx.manager.set_targets(vec![target("web", &server, 100)]);
    let up = fx.scrapes(&server.instance(), 1).await;
    assert_eq!(up[0].value, 0.0);
    let error = fx.health(&server.url()).last_error.unwrap();
    assert!(error.starts_with("line 2, column 5: "), "{error}");
    // Nothing of the malformed scrape is stored.
    assert!(fx.sink.series("a", &server.instance()).is_empty());
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_times_out() {
    let fx = Fixture::new();
    let server = fx
        .server(Reply {
            delay: Duration::from_secs(5),
            ..Reply::text("a 1\n")
        })
        .await;
    fx.manager.set_targets(vec![Target {
        timeout: Duration::from_millis(100),
        ..target("web", &server, 200)
    }]);
    let scrape = fx
        .eventually("a timed-out scrape", || {
            fx.sink.scrapes(&server.instance()).into_iter().next()
        })
        .await;
    assert_eq!(value_of(&scrape, "up"), 0.0);
    let duration = value_of(&scrape, "scrape_duration_seconds");
    assert!((0.09..1.0).contains(&duration), "{duration}");
    let health = fx.health(&server.url());
    assert_eq!(health.health, Health::Down);
    assert_eq!(
        health.last_error.as_deref(),
        Some(
            format!(
                "timed out: {} did not answer in full within the scrape timeout of 100ms",
                server.url()
            )
            .as_str()
        )
    );
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_down() {
    let fx = Fixture::with_limits(Limits {
        max_body_bytes: 64,
        ..Limits::default()
    });
    let body: String = (0..20).map(|i| format!("metric_{i} {i}\n")).collect();
    let server = fx.server(Reply::text(&body)).await;
    fx.manager.set_targets(vec![target("web", &server, 100)]);
    let up = fx.scrapes(&server.instance(), 1).await;
    assert_eq!(up[0].value, 0.0);
    assert_eq!(
        fx.health(&server.url()).last_error.as_deref(),
        Some("response body exceeds the limit max_body_bytes = 64 bytes")
    );
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_never_delays_another() {
    let fx = Fixture::new();
    let slow = fx
        .server(Reply {
            delay: Duration::from_secs(10),
            ..Reply::text("a 1\n")
        })
        .await;
    let fast = fx.server(Reply::text("a 1\n")).await;
    fx.manager.set_targets(vec![
        Target {
            timeout: Duration::from_secs(5),
            ..target("slow", &slow, 5000)
        },
        target("fast", &fast, 100),
    ]);
    fx.eventually("the slow target's request", || {
        (slow.hits() == 1).then_some(())
    })
    .await;
    fx.scrapes(&fast.instance(), 4).await;
    let health = fx.health(&slow.url());
    assert_eq!(health.health, Health::Unknown);
    assert_eq!(health.health.to_string(), "unknown");
    assert!(health.last_scrape.is_none());
    // Shutdown abandons the scrape in flight.
    let started = Instant::now();
    fx.manager.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(fx.sink.series("up", &slow.instance()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Target set changes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_targets_keeps_unchanged_loops_starts_new_and_stops_removed() {
    let fx = Fixture::new();
    let x = fx.server(Reply::text("a 1\n")).await;
    let y = fx.server(Reply::text("a 1\n")).await;
    let labelled = |server: &Server, labels: &[(&str, &str)]| Target {
        labels: labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..target("web", server, 100)
    };
    fx.manager
        .set_targets(vec![labelled(&x, &[("app", "shop"), ("replica", "1")])]);
    fx.scrapes(&x.instance(), 2).await;

    // Same identity (label order differs, an empty label is absent): the loop keeps running.
    for _ in 0..3 {
        fx.manager.set_targets(vec![
            labelled(&x, &[("replica", "1"), ("app", "shop"), ("release", "")]),
            labelled(&y, &[]),
        ]);
    }
    assert_eq!(fx.manager.targets().len(), 2);
    fx.scrapes(&y.instance(), 2).await;
    let n = fx.sink.ups(&x.instance()).len();
    fx.scrapes(&x.instance(), n + 2).await;

    // A changed interval retunes the running loop.
    fx.manager.set_targets(vec![
        labelled(&x, &[("app", "shop"), ("replica", "1")]),
        Target {
            interval: Duration::from_millis(150),
            ..labelled(&y, &[])
        },
    ]);
    assert_eq!(fx.health(&y.url()).interval, Duration::from_millis(150));
    let n = fx.sink.ups(&y.instance()).len();
    fx.scrapes(&y.instance(), n + 2).await;

    // No restart means no extra scrape: one request per `up`, scrapes at least half an
    // interval apart, no staleness marker in between.
    let ups = fx.sink.ups(&x.instance());
    // (A scrape may be in flight: its request is counted, its `up` not yet written.)
    assert!(
        (ups.len()..=ups.len() + 1).contains(&x.hits()),
        "{} requests, {} scrapes",
        x.hits(),
        ups.len()
    );
    for pair in ups.windows(2) {
        assert!(pair[1].t_ms - pair[0].t_ms >= 25, "{ups:?}");
    }
    for server in [&x, &y] {
        assert!(
            fx.sink
                .series("up", &server.instance())
                .iter()
                .all(|s| !is_stale(s.value))
        );
    }
    assert!(
        fx.sink
            .series("up", &y.instance())
            .windows(2)
            .all(|p| p[1].t_ms - p[0].t_ms >= 25)
    );

    // Remove x: it stops and goes stale; y goes on.
    fx.manager.set_targets(vec![Target {
        interval: Duration::from_millis(150),
        ..labelled(&y, &[])
    }]);
    fx.eventually("x stale", || {
        fx.sink
            .series("up", &x.instance())
            .last()
            .is_some_and(|s| is_stale(s.value))
            .then_some(())
    })
    .await;
    let hits = x.hits();
    let n = fx.sink.ups(&y.instance()).len();
    fx.scrapes(&y.instance(), n + 3).await;
    // Nothing of x after its markers; at most a request that was already on its way when the
    // loop stopped reaches the server late.
    let up = fx.sink.series("up", &x.instance());
    assert!(is_stale(up.last().unwrap().value), "{up:?}");
    assert!(x.hits() <= hits + 1, "{} > {hits} + 1", x.hits());
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_removed_and_added_again_resumes_after_its_markers() {
    let fx = Fixture::new();
    let server = fx.server(Reply::text("a 1\n")).await;
    let instance = server.instance();
    fx.manager.set_targets(vec![target("web", &server, 100)]);
    fx.scrapes(&instance, 1).await;
    fx.manager.set_targets(vec![]);
    fx.manager.set_targets(vec![target("web", &server, 100)]);
    let n = fx.sink.ups(&instance).len();
    fx.scrapes(&instance, n + 2).await;
    // The end-of-run marker precedes the new loop's samples.
    let up = fx.sink.series("up", &instance);
    let stale = up.iter().position(|s| is_stale(s.value)).expect("a marker");
    assert!(up[stale + 1..].iter().all(|s| !is_stale(s.value)));
    for pair in up.windows(2) {
        assert!(pair[1].t_ms > pair[0].t_ms, "{up:?}");
    }
    fx.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_target_label_is_reported_not_scraped() {
    let fx = Fixture::new();
    let server = fx.server(Reply::text("a 1\n")).await;
    fx.manager.set_targets(vec![Target {
        labels: vec![("app-name".into(), "shop".into())],
        ..target("web", &server, 100)
    }]);
    let health = fx
        .eventually("the target marked down", || {
            let h = fx.health(&server.url());
            (h.health == Health::Down).then_some(h)
        })
        .await;
    let error = health.last_error.unwrap();
    assert!(error.contains("invalid label name \"app-name\""), "{error}");
    assert_eq!(server.hits(), 0);
    fx.manager.shutdown().await;
    assert!(fx.sink.batches.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fx = Fixture::with_limits(Limits {
        max_body_bytes: 64,
        ..Limits::default()
    });
    // No Content-Length: the limit must be enforced while reading.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let mut response = String::from(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                for i in 0..20 {
                    let line = format!("metric_{i} {i}\n");
                    response.push_str(&format!("{:x}\r\n{line}\r\n", line.len()));
                }
                response.push_str("0\r\n\r\n");
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    let url = format!("http://{addr}/metrics");
    fx.manager.set_targets(vec![Target {
        job: "web".into(),
        url: url.clone(),
        labels: vec![],
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(80),
    }]);
    let up = fx.scrapes(&addr.to_string(), 1).await;
    assert_eq!(up[0].value, 0.0);
    assert_eq!(
        fx.health(&url).last_error.as_deref(),
        Some("response body exceeds the limit max_body_bytes = 64 bytes")
    );
    fx.manager.shutdown().await;
}
