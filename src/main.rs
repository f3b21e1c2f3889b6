//! Thin entry point: parse the command line, set up logging, run the command,
//! map the outcome to an exit status (`exporterctl::exit`).

use clap::Parser;
use exporterctl::cli::{Cli, Command, StoreCommand};
use exporterctl::commands::{self, Ctx, ExitStatus, UsageError};
use std::io::IsTerminal;
use std::process::ExitCode;

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,exporterctl=info",
        (false, 1) => "info,exporterctl=debug",
        _ => "debug",
    };
    // The TLS verifier logs a failed handshake as an error without the URL;
    // exporterctl's own error names the URL and says what to do, so the
    // verifier's line is kept for -vv only.
    let quiet_deps = if verbose >= 2 {
        ""
    } else {
        ",rustls_platform_verifier=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default}{quiet_deps}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    if let Command::DemoExporter {
        name,
        version,
        listen,
        behaviour,
        rest,
    } = &cli.command
    {
        let opts = exporterctl::demo::exporter::ExporterOpts {
            name: name.clone(),
            version: version.clone(),
            listen: listen
                .parse()
                .map_err(|e| UsageError(format!("--listen {listen}: {e}")))?,
            behaviour: behaviour.parse().map_err(|e: String| UsageError(e))?,
        };
        if let Err(refused) = exporterctl::demo::exporter::refused_flags(name, opts.behaviour, rest) {
            eprintln!("{refused}");
            std::process::exit(2);
        }
        let _lock = match exporterctl::demo::exporter::hold_lock(rest) {
            Ok(l) => l,
            Err(why) => {
                eprintln!("{name}: error: {why}");
                std::process::exit(1);
            }
        };
        exporterctl::demo::exporter::run(&opts)?;
        return Ok(ExitStatus::Success);
    }
    // Documentation of the command line itself: no host, no root.
    match &cli.command {
        Command::Completions { shell } => {
            commands::completions::completions(*shell, &mut std::io::stdout().lock())?;
            return Ok(ExitStatus::Success);
        }
        Command::Man { out_dir } => {
            for page in commands::completions::man_pages(out_dir)? {
                println!("{}", page.display());
            }
            return Ok(ExitStatus::Success);
        }
        _ => {}
    }
    let ctx = Ctx::new(cli.root.clone(), cli.command.root_use())?;
    let quiet = cli.quiet;
    match cli.command {
        Command::Demo { keep } => commands::demo::run(&ctx, keep),
        Command::Realise { manifest, json } => commands::realise::run(&ctx, &manifest, json.json),
        Command::Lock { manifest } => commands::lock::run(&ctx, &manifest),
        Command::Store {
            command: StoreCommand::Verify { json },
        } => commands::store::verify(&ctx, json.json),
        Command::Store {
            command: StoreCommand::Ls { json },
        } => commands::store::ls(&ctx, json.json),
        Command::Store {
            command: StoreCommand::Repair { manifest, json },
        } => commands::store::repair(&ctx, manifest.as_deref(), json.json),
        Command::Switch {
            manifest,
            dry_run,
            only,
            mode,
            atomic,
            parallel,
            yes,
            json,
            rollout_id,
            preflight,
        } => commands::switch::run(
            &ctx,
            &commands::switch::SwitchArgs {
                manifest: &manifest,
                dry_run,
                only: &only,
                mode,
                atomic,
                parallel: parallel.map(usize::from),
                yes,
                quiet,
                json,
                rollout_id: rollout_id.as_deref(),
                preflight,
            },
        ),
        Command::Rollback {
            to,
            rollout,
            parallel,
            json,
        } => commands::rollback::run(&ctx, to, rollout.as_deref(), parallel.map(usize::from), quiet, json),
        Command::Generations { json } => commands::generations::run(&ctx, json.json),
        Command::Diff { a, b, metrics, json } => commands::diff::run(&ctx, a, b, metrics, json.json),
        Command::Status { json } => commands::status::run(&ctx, json.json),
        Command::Gc {
            keep,
            older_than,
            dry_run,
            json,
        } => commands::gc::run(
            &ctx,
            &exporterctl::gc::Policy {
                keep,
                older_than,
                dry_run,
            },
            json.json,
        ),
        Command::Adopt { manifest } => commands::adopt::run(&ctx, &manifest),
        Command::Resume { abort, parallel, json } => {
            commands::resume::run(&ctx, abort, parallel.map(usize::from), quiet, json)
        }
        Command::Versions { name, manifest, json } => {
            commands::versions::run(&ctx, &name, manifest.as_deref(), json.json)
        }
        Command::Check { manifest, json } => commands::check::run(&ctx, &manifest, json.json),
        Command::Preflight { manifest, only, json } => commands::preflight::run(
            &ctx,
            &commands::preflight::PreflightArgs {
                manifest: &manifest,
                only: &only,
                json: json.json,
            },
        ),
        Command::Mirror { manifest, dir } => commands::mirror::run(&ctx, &manifest, &dir),
        Command::DemoExporter { .. } | Command::Completions { .. } | Command::Man { .. } => {
            unreachable!("handled above")
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    match run(cli) {
        Ok(status) => ExitCode::from(status.code()),
        Err(e) => {
            eprintln!("error: {}", exporterctl::exit::error_report(&e));
            ExitCode::from(ExitStatus::of_error(&e).code())
        }
    }
}
