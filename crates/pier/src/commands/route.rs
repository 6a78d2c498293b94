//! `pier route`: shows the router's rules, and changes a split live — the rollout target's
//! percentage (`pier route split`) and the keys (tenants) always sent to it or kept off it
//! (`pier route allow|deny`). Changes are stored by the daemon before they take effect and
//! disturb no request in flight.

use pier_api::{KeyListName, KeysRequest, RouteDto, RoutesDto, SplitRequest};

use crate::cli::RouteCommand;
use crate::client::Client;
use crate::table::Table;

pub async fn run(client: &Client, command: Option<RouteCommand>) -> anyhow::Result<()> {
    match command.unwrap_or(RouteCommand::Show { json: false }) {
        RouteCommand::Show { json } => {
            let routes: RoutesDto = client.get("/v1/routes").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&routes)?);
            } else {
                print_routes(&routes.routes);
            }
        }
        RouteCommand::Split { route, percent } => {
            let updated: RouteDto = client
                .post("/v1/routes/split", &SplitRequest { route, percent })
                .await?;
            print_routes(&[updated]);
        }
        RouteCommand::Allow {
            route,
            keys,
            remove,
        } => keys_change(client, route, KeyListName::Allow, keys, remove).await?,
        RouteCommand::Deny {
            route,
            keys,
            remove,
        } => keys_change(client, route, KeyListName::Deny, keys, remove).await?,
    }
    Ok(())
}

async fn keys_change(
    client: &Client,
    route: String,
    list: KeyListName,
    keys: Vec<String>,
    remove: bool,
) -> anyhow::Result<()> {
    let updated: RouteDto = client
        .post(
            "/v1/routes/keys",
            &KeysRequest {
                route,
                list,
                keys,
                remove,
            },
        )
        .await?;
    print_routes(&[updated]);
    Ok(())
}

fn print_routes(routes: &[RouteDto]) {
    let mut table = Table::new(&["ROUTE", "BACKENDS", "KEY", "ALLOW", "DENY"]);
    for route in routes {
        let backends: Vec<String> = route
            .targets
            .iter()
            .map(|t| format!("{} {}%", t.backend, t.percent))
            .collect();
        let list = |keys: &[String]| {
            if keys.is_empty() {
                "-".to_string()
            } else {
                keys.join(",")
            }
        };
        table.row(vec![
            route.name.clone(),
            backends.join(", "),
            route.split_key.clone().unwrap_or_else(|| {
                if route.targets.len() > 1 {
                    "pier cookie".into()
                } else {
                    "-".into()
                }
            }),
            list(&route.allow),
            list(&route.deny),
        ]);
    }
    print!("{}", table.render());
}
