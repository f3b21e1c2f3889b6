//! `exporterctl demo` (filled in once the demo server lands).
use super::{Ctx, Outcome};
use anyhow::Result;

pub fn run(_ctx: &Ctx, _keep: bool) -> Result<Outcome> {
    anyhow::bail!("demo: not yet available")
}
