//! `exporterctl rollback [--to N | --rollout ID] [--parallel N] [--json]`

use super::switch::{nothing_done, report};
use super::{Ctx, ExitStatus, Host};
use crate::generation::record::Generations;
use crate::monitoring::window::Window;
use crate::plan::rollback::{rollback, Rollback, Target};
use anyhow::Result;

pub fn run(
    ctx: &Ctx,
    to: Option<u64>,
    rollout: Option<&str>,
    parallel: Option<usize>,
    quiet: bool,
    json: bool,
) -> Result<ExitStatus> {
    let _lock = ctx.lock("rollback")?;
    ctx.ensure_no_interrupted_switch()?;
    let store = ctx.store()?;
    let target = match (rollout, to) {
        (Some(id), _) => Target::Rollout(id),
        (None, Some(n)) => Target::Generation(n),
        (None, None) => Target::Previous,
    };
    let say = &mut |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let plan = match rollback(&ctx.layout, &store, target, parallel, say)? {
        Rollback::NothingToDo(why) => return nothing_done(&why, json, quiet),
        Rollback::To(plan) => plan,
    };
    let host = Host::new(ctx, plan.target.service_manager, quiet)?;
    if let (false, Some(n)) = (quiet, plan.target_generation) {
        match plan.from_generation {
            Some(c) => eprintln!("rolling back from generation {c} to generation {n}"),
            None => eprintln!("rolling back to generation {n}"),
        }
    }
    // The manifest that made the generation it returns to (if it can still
    // be read) says how to tell the monitoring.
    let monitoring = plan
        .target_generation
        .and_then(|n| crate::monitoring::window::settings_of_generation(&ctx.layout, n));
    let window = monitoring.clone().map(Window::new);
    let hooks = host.hooks(window.as_ref());
    let engine = host.watched_engine(ctx, &store, hooks.as_ref());
    let mut record = engine.record(&plan)?;
    engine.preflight(&record, &plan.target)?;
    engine.run(&mut record, &plan)?;
    super::switch::refresh_textfile(ctx, &store, monitoring.as_ref(), Some(&record));
    let status = report(&record, json)?;
    if let (Some(c), Some(back)) = (plan.from_generation, record.result_generation) {
        let lines = super::diff::metric_lines(&Generations::new(&ctx.layout), c, back);
        let shown = !(json && quiet);
        if shown && !lines.is_empty() {
            let text = format!(
                "what Prometheus sees again (generation {c} → {back}):\n{}",
                lines.join("")
            );
            if json {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
        }
    }
    Ok(status)
}
