//! `exporterctl diff A B`

use super::{print_json, Ctx, Outcome, UsageError};
use crate::generation::profile::{self, Profiles};
use crate::generation::state::{changes, Action, ProfileState};
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct Row {
    name: String,
    change: Action,
    from: Option<String>,
    to: Option<String>,
}

fn state_of(profiles: &Profiles, store: &Store, n: u64) -> Result<ProfileState> {
    match profiles.generation_farm(n)? {
        Some(f) => Ok(profile::read_farm_state(store, &f)?),
        None => Err(UsageError(format!("generation {n} does not exist")).into()),
    }
}

pub fn run(ctx: &Ctx, a: u64, b: u64, json: bool) -> Result<Outcome> {
    let profiles = Profiles::new(&ctx.layout);
    for n in [a, b] {
        if profiles.generation_farm(n)?.is_none() {
            return Err(UsageError(format!("generation {n} does not exist")).into());
        }
    }
    let store = ctx.store()?;
    let sa = state_of(&profiles, &store, a)?;
    let sb = state_of(&profiles, &store, b)?;
    let rows: Vec<Row> = changes(&sa, &sb)
        .into_iter()
        .map(|c| Row {
            name: c.name,
            change: c.action,
            from: c.from_version,
            to: c.to_version,
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(Outcome::Ok);
    }
    if rows.is_empty() {
        println!("generations {a} and {b} run the same exporters");
    }
    for r in &rows {
        let what = match (r.change, &r.from, &r.to) {
            (Action::Add, _, Some(t)) => format!("added ({t})"),
            (Action::Remove, Some(f), _) => format!("removed ({f})"),
            (Action::Reconfigure, _, Some(t)) => format!("{t} (same version; binary, arguments or unit changed)"),
            (_, Some(f), Some(t)) => format!("{f} → {t}"),
            _ => String::new(),
        };
        println!("{:<28} {what}", r.name);
    }
    Ok(Outcome::Ok)
}
