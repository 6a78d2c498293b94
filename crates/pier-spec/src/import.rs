//! Building a [`Manifest`] from a Heroku `Procfile` and optional `app.json`, with Heroku's
//! semantics: only `web` gets a port and public traffic, `release` is the release phase,
//! formation quantities are replica counts. Also the notes `pier init` turns into comments.

use std::collections::BTreeMap;
use std::path::Path;

use crate::app_json::{self, AppJson};
use crate::diagnostics::{ManifestError, Problem, Reporter};
use crate::model::{
    Alerts, Backoff, Manifest, ManifestSource, MetricsSettings, ReleaseCommand, Resources,
    RouterSettings, Service, SupervisorSettings,
};
use crate::names;
use crate::procfile::{self, Entry};
use crate::validate::{MAX_REPLICAS, RELEASE_TIMEOUT, TERMINATION_GRACE};

/// A manifest imported from a Procfile, with remarks for a generated `pier.toml`.
pub(crate) struct Import {
    pub manifest: Manifest,
    /// Lines explaining what the import left out or changed.
    pub notes: Vec<String>,
}

pub(crate) fn import(
    procfile_text: &str,
    procfile_path: &Path,
    app_json: Option<(&str, &Path)>,
    default_app_name: &str,
) -> Result<Import, ManifestError> {
    let mut procfile_reporter = Reporter::new(procfile_path, procfile_text);
    let entries = procfile::parse(&mut procfile_reporter);
    let mut diagnostics = Vec::new();
    let app = match app_json {
        Some((text, path)) => {
            let mut reporter = Reporter::new(path, text);
            let app = app_json::parse(&mut reporter);
            if let Some(app) = &app {
                check_formation(&mut reporter, app, &entries);
            }
            diagnostics.extend(reporter.into_diagnostics());
            app.unwrap_or_default()
        }
        None => AppJson::default(),
    };
    let no_services =
        !procfile_reporter.has_errors() && entries.iter().all(|e| e.name == "release");
    diagnostics.extend(procfile_reporter.into_diagnostics());
    if no_services {
        return Err(ManifestError::file(
            procfile_path,
            "the Procfile declares no process types",
            Some("add a line such as `web: bin/start`".into()),
        ));
    }
    if !diagnostics.is_empty() {
        return Err(ManifestError::new(diagnostics));
    }
    let source = ManifestSource::Procfile {
        procfile: procfile_path.to_path_buf(),
        app_json: app_json.map(|(_, path)| path.to_path_buf()),
    };
    Ok(build(entries, app, source, default_app_name))
}

/// Formation entries must name process types of the Procfile and stay within bounds.
fn check_formation(reporter: &mut Reporter<'_>, app: &AppJson, entries: &[Entry]) {
    for (process_type, quantity) in &app.formation {
        let offset = app_json::find_key(reporter.text(), &["formation", process_type]);
        let field = format!("formation.{process_type}");
        if !entries
            .iter()
            .any(|e| &e.process_type == process_type && e.name != "release")
        {
            let known: Vec<&str> = entries.iter().map(|e| e.process_type.as_str()).collect();
            let problem =
                Problem::new(format!("the Procfile has no process type `{process_type}`"))
                    .maybe_hint(crate::suggest::did_you_mean(
                        process_type,
                        &known,
                        "process types",
                    ));
            reporter.report(offset..offset, &field, problem);
        } else if *quantity > MAX_REPLICAS {
            let problem = Problem::new(format!(
                "quantity must be at most {MAX_REPLICAS}, found {quantity}"
            ));
            reporter.report(offset..offset, &format!("{field}.quantity"), problem);
        }
    }
}

fn build(
    entries: Vec<Entry>,
    app: AppJson,
    source: ManifestSource,
    default_app_name: &str,
) -> Import {
    let mut notes = Vec::new();
    let mut release = None;
    let mut services = BTreeMap::new();
    for entry in entries {
        if entry.name == "release" {
            release = Some(ReleaseCommand {
                command: entry.command,
                timeout: RELEASE_TIMEOUT,
            });
            continue;
        }
        if entry.name != entry.process_type {
            notes.push(format!(
                "Procfile process type `{}` is the service `{}`.",
                entry.process_type, entry.name
            ));
        }
        let replicas = app.formation.get(&entry.process_type).copied().unwrap_or(1);
        services.insert(
            entry.name.clone(),
            service(entry.name, entry.command, replicas),
        );
    }
    notes.extend(app.skipped.iter().cloned());
    let manifest = Manifest {
        app: app_name(app.name.as_deref(), default_app_name),
        source,
        build: None,
        release,
        env: app.env,
        services,
        jobs: BTreeMap::new(),
        routes: Vec::new(),
        alerts: Alerts::default(),
        resources: Resources::default(),
        supervisor: SupervisorSettings::default(),
        router: RouterSettings::default(),
        deploy: crate::model::DeploySettings::default(),
        metrics: MetricsSettings::default(),
    };
    Import { manifest, notes }
}

/// A service as Heroku runs a process type: only `web` has a port and is public.
fn service(name: String, command: String, replicas: u32) -> Service {
    let web = name == "web";
    Service {
        name,
        command,
        replicas,
        port: web,
        public: web,
        metrics: None,
        readiness: None,
        liveness: None,
        termination_grace: TERMINATION_GRACE,
        restart_backoff: Backoff::default(),
        resources: Resources::default(),
        autoscale: None,
        env: BTreeMap::new(),
        rollout: crate::model::Rollout::default(),
    }
}

/// app.json's name, else the folder's, as a DNS label; `app` when neither yields one.
fn app_name(from_json: Option<&str>, default_app_name: &str) -> String {
    from_json
        .and_then(names::sanitize_label)
        .or_else(|| names::sanitize_label(default_app_name))
        .unwrap_or_else(|| "app".to_string())
}
