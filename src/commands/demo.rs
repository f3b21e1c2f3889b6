//! `exporterctl demo`: the whole story on the `process` manager under a
//! temporary root — switch to v1, upgrade to v2, a broken v3 refused by the
//! preflight, then (preflight off) rolled back on
//! its own, `rollback --to 1`, `generations`, `gc`.

use super::{Ctx, ExitStatus, RootUse};
use crate::cli::Mode;
use crate::demo::releases;
use crate::gc::Policy;
use crate::generation::profile::{self, Profiles};
use crate::service::manager_for;
use crate::switch::service_spec;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

const NAME: &str = "demo_exporter";

fn banner(text: &str) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!("\n\x1b[1m== {text}\x1b[0m");
    } else {
        println!("\n== {text}");
    }
}

fn manifest(dir: &Path, file: &str, server: &str, version: &str, port: u16) -> Result<PathBuf> {
    let path = dir.join(file);
    std::fs::write(&path, releases::manifest_text(NAME, server, version, port, "500ms"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn show(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text
            .lines()
            .filter(|l| l.contains("version:") && !l.trim_start().starts_with('#'))
        {
            println!(
                "   {}: {}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                line.trim()
            );
        }
    }
}

pub fn run(given: &Ctx, keep: bool) -> Result<ExitStatus> {
    // Without --root the demo makes its own, so it never touches the host.
    let (tmp, ctx) = if given.layout.root() == Path::new("/") {
        let tmp = tempfile::Builder::new().prefix("exporterctl-demo-").tempdir()?;
        let ctx = Ctx::new(Some(tmp.path().to_path_buf()), RootUse::Change)?;
        (Some(tmp), ctx)
    } else {
        (
            None,
            Ctx::new(Some(given.layout.root().to_path_buf()), RootUse::Change)?,
        )
    };
    let root = ctx.layout.root().to_path_buf();
    let exe = std::env::current_exe().context("locating the exporterctl binary")?;
    let arch = crate::template::host_arch();
    let releases_dir = root.join("releases");
    for (v, behaviour) in [("1.0.0", "ok"), ("2.0.0", "ok"), ("3.0.0", "crash")] {
        releases::publish(&releases_dir, &exe, NAME, v, arch, behaviour)?;
    }
    let server = releases::serve(releases_dir)?;
    let port = crate::demo::free_port().context("choosing a port for the demo exporter")?;
    let mdir = root.join("manifests");
    std::fs::create_dir_all(&mdir)?;
    let m1 = manifest(&mdir, "v1.yaml", &server.url(), "1.0.0", port)?;
    let m2 = manifest(&mdir, "v2.yaml", &server.url(), "2.0.0", port)?;
    let m3 = manifest(&mdir, "v3.yaml", &server.url(), "3.0.0", port)?;
    println!(
        "exporterctl demo under {} (process service manager, releases served from {})",
        root.display(),
        server.url()
    );
    println!("the exporter answers on http://127.0.0.1:{port}/metrics");

    let switch = |m: &Path, preflight: Option<crate::preflight::Mode>| {
        super::switch::run(
            &ctx,
            &super::switch::SwitchArgs {
                manifest: m,
                dry_run: false,
                only: &[],
                mode: Mode::Fast,
                atomic: false,
                parallel: None,
                yes: true,
                quiet: false,
                json: false,
                rollout_id: None,
                preflight,
            },
        )
    };
    let result = (|| -> Result<()> {
        banner("1. switch to v1: download, verify sha256, unpack into the store, start, health-check");
        show(&m1);
        switch(&m1, None)?;
        banner("2. upgrade to v2: flip the link, restart, check build_info says 2.0.0");
        show(&m2);
        switch(&m2, None)?;
        banner("3. the same manifest again: nothing restarts, no new generation");
        switch(&m2, None)?;
        banner(
            "4. v3 crashes at start: the preflight starts it beside the running v2, sees it exit \
             while v2 started the same way serves, and refuses: nothing is touched",
        );
        show(&m3);
        let outcome = switch(&m3, None)?;
        println!(
            "   (exit status would be {}: refused)",
            if outcome == ExitStatus::Failed { 1 } else { 0 }
        );
        banner(
            "5. v3 again with --preflight off: the health check fails after the flip and \
             exporterctl rolls back on its own",
        );
        let outcome = switch(&m3, Some(crate::preflight::Mode::Off))?;
        println!(
            "   (exit status would be {}: a failed step is a failure even when rollback worked)",
            if outcome == ExitStatus::Failed { 1 } else { 0 }
        );
        banner("6. rollback --to 1: no download, just a flip, a restart and a check");
        super::rollback::run(&ctx, Some(1), None, None, false, false)?;
        banner("7. generations");
        super::generations::run(&ctx, false)?;
        banner("8. status");
        super::status::run(&ctx, false)?;
        banner(
            "9. gc --keep 1: the newest generation (2) and the current one (1) stay; \
             what none of them needs goes (the broken v3's release, unused profiles)",
        );
        super::gc::run(
            &ctx,
            &Policy {
                keep: Some(1),
                older_than: None,
                dry_run: false,
            },
            false,
        )?;
        super::store::ls(&ctx, false)?;
        Ok(())
    })();

    // Stop the demo exporter, whatever happened.
    if let Ok(store) = ctx.store() {
        if let Ok(Some(farm)) = Profiles::new(&ctx.layout).current().map(|c| c.farm().cloned()) {
            if let Ok(state) = profile::read_farm_state(&store, &farm) {
                let svc = manager_for(state.service_manager, &ctx.layout);
                for e in &state.exporters {
                    let _ = svc.stop(&service_spec(&ctx.layout, &state, e));
                }
            }
        }
    }
    drop(server);
    match tmp {
        Some(t) if keep => {
            let kept = t.keep();
            println!(
                "\ndemo root kept at {0}; its exporter and release server are stopped.\n\
                 Everything recorded still works offline, e.g.:\n  \
                 exporterctl --root {0} rollback --to 2   # starts the demo exporter again, from the store\n  \
                 exporterctl --root {0} status\n  \
                 exporterctl --root {0} generations",
                kept.display()
            )
        }
        Some(_) => {
            println!("\ndemo done; its temporary root was removed (use `exporterctl demo --keep` to look around)")
        }
        None => println!("\ndemo done; everything is under {}", root.display()),
    }
    result.map(|()| ExitStatus::Success)
}
