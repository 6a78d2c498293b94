//! `pier scale web=3 worker=0`: validated locally, then applied by the daemon (which stores the
//! formation durably before acting). With no argument, prints the formation in the same
//! `web=2 worker=1` form, like `heroku ps:scale`.

use std::collections::BTreeMap;

use pier_api::{FormationDto, ScaleRequest};

use crate::client::Client;
use crate::exit::Exit;

pub async fn run(client: &Client, changes: &[String], json: bool) -> anyhow::Result<()> {
    let formation: FormationDto = if changes.is_empty() {
        client.get("/v1/formation").await?
    } else {
        let request = ScaleRequest {
            formation: parse_changes(changes)?,
        };
        let words: Vec<String> = request
            .formation
            .iter()
            .map(|(s, n)| format!("{s} to {n}"))
            .collect();
        eprintln!("Scaling {}...", words.join(", "));
        client.post("/v1/scale", &request).await?
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&formation)?);
    } else {
        let pairs: Vec<String> = formation
            .formation
            .iter()
            .map(|(s, n)| format!("{s}={n}"))
            .collect();
        println!("{}", pairs.join(" "));
    }
    Ok(())
}

/// Parses `SERVICE=COUNT` arguments; a service named twice is an error.
pub fn parse_changes(changes: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for change in changes {
        let bad = || Exit::invalid(format!("`{change}`: expected SERVICE=COUNT, like web=3"));
        let (service, count) = change.split_once('=').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if service.is_empty() {
            return Err(bad());
        }
        if out.insert(service.to_string(), count).is_some() {
            return Err(Exit::invalid(format!(
                "`{service}` is given twice; give each service once"
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let ok = parse_changes(&["web=3".into(), "worker=0".into()]).unwrap();
        assert_eq!(
            ok,
            BTreeMap::from([("web".into(), 3), ("worker".into(), 0)])
        );
        for bad in ["web", "web=-1", "=2", "web=x"] {
            assert!(parse_changes(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(parse_changes(&["web=1".into(), "web=2".into()]).is_err());
    }
}
