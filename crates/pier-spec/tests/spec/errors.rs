//! Every error path of pier.toml, as snapshots of the input and the messages it produces.
//! Each case is one (name, manifest) pair run through `harness::check`.

use crate::harness::check;

const CASES: &[(&str, &str)] = &[
    (
        "unknown_key_did_you_mean",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        replcas = 2
        "#,
    ),
    (
        "unknown_key_lists_valid_keys",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        readiness = { http = "/", frobnicate = true }
        "#,
    ),
    (
        "unknown_top_level_table",
        r#"
        app = "demo"
        [servces.web]
        command = "bin/web"
        "#,
    ),
    (
        "wrong_types",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        replicas = "2"
        port = "false"
        termination_grace = 10
        readiness = "/healthz"
        [alerts]
        rules = "alerts.yml"
        "#,
    ),
    (
        "negative_and_float_counts",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        replicas = -1
        [services.api]
        command = "bin/api"
        replicas = 2.0
        "#,
    ),
    (
        "env_values_must_be_strings",
        r#"
        app = "demo"
        [env]
        WORKERS = 4
        DEBUG = true
        "bad-name" = "x"
        PORT = "80"
        [services.web]
        command = "bin/web"
        env = { RATIO = 0.5 }
        "#,
    ),
    (
        "bad_durations",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        termination_grace = "30 seconds"
        readiness = { http = "/", period = "0s", timeout = "5min", initial_delay = "-1s" }
        liveness = { http = "/", period = "1.5s", timeout = "30" }
        [release]
        command = "bin/migrate"
        timeout = "30m1h"
        "#,
    ),
    (
        "bad_quantities",
        r#"
        app = "demo"
        [resources]
        cpu = "2x"
        [services.web]
        command = "bin/web"
        resources = { cpu = "0.0001", memory = "256m" }
        [services.api]
        command = "bin/api"
        resources = { memory = 256 }
        [services.worker]
        command = "bin/worker"
        resources = { memory = "1gb", cpu = "0" }
        "#,
    ),
    (
        "bad_cron_and_time_zone",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        [jobs.fields]
        schedule = "0 6 * *"
        command = "bin/a"
        [jobs.range]
        schedule = "61 * * * *"
        command = "bin/b"
        [jobs.macro]
        schedule = "@dayly"
        command = "bin/c"
        [jobs.zone]
        schedule = "@every 1m"
        timezone = "America/Chicgo"
        command = "bin/d"
        [jobs.nowhere]
        schedule = "@hourly"
        timezone = "Mars/Olympus"
        command = "bin/e"
        "#,
    ),
    (
        "job_policies",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        [jobs.web]
        schedule = "@hourly"
        command = "bin/job"
        concurrency = "forbidden"
        catch_up = "sometimes"
        max_catch_up = 0
        timeout = "0s"
        starting_deadline = "soon"
        retry_backoff = "-5s"
        retries = 1000
        [jobs.report]
        command = "bin/report"
        [jobs.quick]
        schedule = "@every 500ms"
        command = "bin/quick"
        "#,
    ),
    (
        "metrics_section",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        [metrics]
        interval = "10s"
        timeout = "20s"
        retention = "forever"
        retention_size = "10 gigs"
        [[metrics.targets]]
        url = "localhost:9100/metrics"
        labels = { job = "x", "__meta" = "y", "bad-name" = "z" }
        [[metrics.targets]]
        job = "node"
        url = "http://127.0.0.1:9100/metrics"
        interval = "5s"
        [[metrics.targets]]
        job = "ok"
        url = "http://127.0.0.1:9200/metrics"
        interval = "1m"
        timeout = "30s"
        labels = { env = "prod" }
        "#,
    ),
    (
        "route_to_unknown_service",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        [services.api]
        command = "bin/api"
        [[routes]]
        to = "wbe"
        [[routes]]
        path = "/x"
        to = "legacy.example.com"
        "#,
    ),
    (
        "route_split_problems",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        [services.answers]
        command = "bin/answers"
        [services.worker]
        command = "bin/worker"
        port = false
        [[routes]]
        split = [{ to = "web", weight = 90 }, { to = "https://legacy.example.com", weight = 20 }]
        split_key = { cookie = "tenant", header = "X-Tenant" }
        [[routes]]
        path = "/answers"
        to = "answers"
        [[routes]]
        path = "/worker"
        to = "worker"
        [[routes]]
        path = "/both"
        to = "web"
        split = [{ to = "web", weight = 100 }]
        [[routes]]
        path = "/none"
        "#,
    ),
    (
        "route_fields",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        [[routes]]
        host = "https://example.com/"
        path = "api"
        to = "ftp://files.example.com"
        timeouts = { connect = "0s" }
        [[routes]]
        host = "example.com:8080"
        split = [{ to = "web" }, { to = "web", weight = 50 }]
        [[routes]]
        to = "web"
        [[routes]]
        to = "web"
        "#,
    ),
    (
        "probes",
        r#"
        app = "demo"
        [services.worker]
        command = "bin/worker"
        port = false
        readiness = { http = "/healthz" }
        liveness = { tcp = true, success_threshold = 2 }
        [services.web]
        command = "bin/web"
        readiness = { http = "healthz", exec = "true" }
        liveness = { period = "5s" }
        [services.api]
        command = "bin/api"
        readiness = { tcp = false, failure_threshold = 0 }
        "#,
    ),
    (
        "port_rules",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        port = false
        public = true
        metrics = "/metrics"
        [services.api]
        command = "bin/api"
        metrics = "metrics"
        "#,
    ),
    (
        "autoscale",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        autoscale = { min = 4, max = 2, target_cpu = 60 }
        [services.api]
        command = "bin/api"
        autoscale = { min = 0, target_cpu = 0.5 }
        [services.big]
        command = "bin/big"
        replicas = 101
        "#,
    ),
    (
        "supervisor",
        r#"
        app = "demo"
        [supervisor]
        port_range = "80-90"
        restart_backoff = { initial = "10m", max = "1m" }
        [services.web]
        command = "bin/web"
        restart_backoff = { initial = "1s", max = "0s" }
        "#,
    ),
    (
        "port_range_too_small",
        r#"
        app = "demo"
        [supervisor]
        port_range = "5000-5002"
        [services.web]
        command = "bin/web"
        replicas = 2
        autoscale = { min = 2, max = 4 }
        "#,
    ),
    (
        "missing_required_keys",
        r#"
        [build]
        [services.web]
        replicas = 2
        [services.api]
        command = "  "
        "#,
    ),
    (
        "no_services",
        r#"
        app = "demo"
        "#,
    ),
    (
        "bad_names",
        r#"
        app = "My_App"
        [services.Web_API]
        command = "bin/web"
        [jobs.2fast]
        schedule = "@hourly"
        command = "bin/job"
        "#,
    ),
    (
        "alerts",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        [alerts]
        rules = ["alerts.yml", ""]
        notify = [
          { slack = "hooks.slack.com/services/x" },
          { webhook = "https://" },
          { slack = "https://a", webhook = "https://b" },
          {},
          "https://example.com",
        ]
        "#,
    ),
    (
        "toml_syntax_error",
        r#"
        app = "demo"
        [services.web
        command = bin/web
        "#,
    ),
    (
        "duplicate_key",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        command = "bin/other"
        "#,
    ),
    (
        "wrong_type_is_not_also_missing",
        r#"
        app = "demo"
        [services.web]
        command = ["bin/web"]
        [jobs.report]
        schedule = 6
        command = "bin/report"
        "#,
    ),
    (
        "section_shapes",
        r#"
        app = 2024-01-01
        services = "web"
        [[jobs]]
        schedule = "@daily"
        [[routes]]
        split = ["web"]
        "#,
    ),
    (
        "too_large",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        replicas = 5000000000
        "#,
    ),
    (
        "typos_are_reported_once",
        r#"
        app = "demo"
        [services.web]
        comand = "bin/web"
        readiness = { htp = "/" }
        autoscale = { min = 1, mx = 3 }
        [[routes]]
        too = "web"
        split_key = { cokie = "a" }
        [alerts]
        notify = [{ slak = "https://x" }]
        [jobs.a]
        schedul = "@daily"
        command = "x"
        "#,
    ),
    (
        "router_settings",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        [router]
        balance = "round-robin"
        max_in_flight = 0
        boot_timeout = "soon"
        retry_idempotent = "yes"
        pin_workers = 2
        "#,
    ),
    (
        "ca_file_without_an_https_backend",
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        public = true
        [[routes]]
        host = "a.example.com"
        to = "web"
        ca_file = "certs/ca.pem"
        [[routes]]
        host = "b.example.com"
        split = [{ to = "web", weight = 50 }, { to = "https://legacy.example.com", weight = 50 }]
        ca_file = ""
        "#,
    ),
];

#[test]
fn error_messages() {
    for (name, input) in CASES {
        check(name, input);
    }
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let input = crate::harness::text(
        r#"
        app = "demo"
        [services.web]
        command = "bin/web"
        replcas = 2
        port = "yes"
        termination_grace = "soon"
        "#,
    );
    let Err(error) = crate::harness::parse(&input) else {
        panic!("expected errors");
    };
    let fields: Vec<&str> = error.diagnostics.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "services.web.replcas",
            "services.web.port",
            "services.web.termination_grace"
        ]
    );
    let first = &error.diagnostics[0];
    assert_eq!((first.line, first.column), (4, 1));
    assert_eq!(first.message, "unknown key `replcas`");
    assert_eq!(first.hint.as_deref(), Some("did you mean `replicas`?"));
    let second = &error.diagnostics[1];
    assert_eq!((second.line, second.column), (5, 8));
}
