//! Command-line definitions (clap) — the single source of the `--help` text
//! and the man page.

use crate::commands::RootUse;
use crate::exit::ExitStatus;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The text after `--help`: files, exit statuses (from [`ExitStatus`], the
/// one place they are decided) and logging.
fn after_help() -> String {
    format!(
        "Files: state in /var/lib/exporterctl (store/, profiles/, generations/, journal.json, lock); \
binaries linked from /usr/local/bin; units in /etc/systemd/system. `--root DIR` moves all of them under DIR.\n\
Exit status: {}.\n\
Logging: RUST_LOG=debug for more detail; -q for errors only.",
        ExitStatus::help()
    )
}

#[derive(Debug, Parser)]
#[command(
    name = "exporterctl",
    version,
    about = "Upgrade, roll back and garbage-collect Prometheus exporters the Nix way",
    long_about = "exporterctl keeps Prometheus exporters in a content-addressed, immutable store, \
describes a host's exporters in a YAML manifest, and switches between states by atomic symlink \
flips, unit restarts and health checks — rolling back on its own when a check fails. Every \
achieved state is a numbered generation that `rollback` returns to instantly.",
    after_help = after_help()
)]
pub struct Cli {
    /// Put every path (state, store, bin_dir, unit_dir) under DIR: for tests and unprivileged demos.
    #[arg(long, global = true, value_name = "DIR", env = "EXPORTERCTL_ROOT")]
    pub root: Option<PathBuf>,
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Ask before each step and pause between steps (settings.pause_safe, 30 s).
    Safe,
    /// Ask once and pause between steps (settings.pause_standard, 10 s).
    Standard,
    /// Neither ask nor pause; switch independent exporters side by side (settings.parallel, 8,
    /// at a time; --parallel N).
    Fast,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the self-contained demo: a release server on 127.0.0.1, a temporary root, the `process`
    /// service manager; switch, upgrade, a broken release rolled back on its own, rollback, gc.
    Demo {
        /// Keep the demo root afterwards and print its path.
        #[arg(long)]
        keep: bool,
    },
    /// Fetch, verify and add every exporter of MANIFEST to the store; print each store path.
    /// Touches nothing outside the store and the download cache.
    Realise {
        /// The manifest (YAML); its lock file, if any, is MANIFEST.lock beside it.
        manifest: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Resolve MANIFEST to exact URLs, sha256 and store paths, and write MANIFEST.lock (JSON).
    /// `realise` and `switch` use the lock when present and refuse one that no longer matches.
    Lock {
        /// The manifest (YAML).
        manifest: PathBuf,
    },
    /// Inspect and repair the content-addressed store (/var/lib/exporterctl/store): list its
    /// paths, re-hash them to find any that were modified, rebuild those that were.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Move the host to MANIFEST's state: realise everything first, then for each changed exporter
    /// flip its link, restart its unit and health-check it, rolling back that step on failure.
    Switch {
        /// The manifest (YAML); its lock file, if any, is MANIFEST.lock beside it. `-` reads it
        /// from stdin (at most 1 MiB; no lock file is used).
        manifest: PathBuf,
        /// Print the plan the switch would carry out and change nothing at all, not even the
        /// store: releases it lacks are listed as downloads, not fetched.
        #[arg(long)]
        dry_run: bool,
        /// Only switch these exporters (repeatable); the others stay as they are.
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        /// How carefully to go through the steps: confirm each one and pause between them,
        /// confirm once and pause, or neither.
        #[arg(long, value_enum, default_value_t = Mode::Standard)]
        mode: Mode,
        /// On any failed step, undo every step of this switch.
        #[arg(long)]
        atomic: bool,
        /// With --mode fast: switch at most N exporters side by side (default
        /// settings.parallel, 8; 1 = one at a time).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: Option<u16>,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        /// Print JSON on stdout instead of text: with --dry-run the plan (steps, health-only
        /// changes, unchanged exporters, downloads); otherwise the finished switch record (as
        /// `switches/<id>.json` holds it, plus `schema`), or `nothing_to_do: true` when there was
        /// nothing to do, while the plan and progress lines go to stderr. See docs/json.md.
        #[arg(long)]
        json: bool,
        /// Tag this switch (its record and the generation it makes) with a fleet rollout's id,
        /// for `rollback --rollout ID`: 1-64 letters, digits, `.`, `_`, `-`, `:`.
        #[arg(long, value_name = "ID", value_parser = parse_rollout_id)]
        rollout_id: Option<String>,
        /// Before the first flip, start each new release beside the running one on a free
        /// loopback port, scrape it once and compare: `warn` reports and goes ahead, except that
        /// a release which cannot start while the running one, started the same way, can is not
        /// switched to (its step fails, nothing of it restarted); `require` refuses (nothing
        /// flipped) a release that does not start or drops a family `health.keep_metrics`
        /// keeps. Default: settings.preflight (warn).
        #[arg(long, value_enum, value_name = "MODE")]
        preflight: Option<crate::generation::preflight::Mode>,
    },
    /// Start each release MANIFEST would switch to beside the running exporter (realising it
    /// first), with this host's arguments and environment on a free loopback port; scrape it once,
    /// stop it, and compare its metric families with the running one's. Exit 1 when a release
    /// does not start or drops a family `health.keep_metrics` keeps.
    Preflight {
        /// The manifest (YAML); its lock file, if any, is MANIFEST.lock beside it.
        manifest: PathBuf,
        /// Only these exporters (repeatable).
        #[arg(long, value_name = "NAME")]
        only: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Return to the previous generation (or to generation N): only flips, restarts and health
    /// checks; nothing is downloaded, it works offline.
    Rollback {
        /// Generation to return to.
        #[arg(long, value_name = "N")]
        to: Option<u64>,
        /// Return at most N exporters side by side (default 8; 1 = one at a time).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: Option<u16>,
        /// Return to the generation that was current before rollout ID's switch on this host;
        /// nothing to do (exit 0) where the rollout never switched or that generation is current.
        #[arg(long, value_name = "ID", value_parser = parse_rollout_id, conflicts_with = "to")]
        rollout: Option<String>,
        /// Print the finished rollback's record as JSON on stdout instead of the summary (with
        /// `nothing_to_do: true` when N is already current); progress lines go to stderr.
        #[arg(long)]
        json: bool,
    },
    /// List generations: number, date, each exporter's version, the switch's outcome; `*` marks
    /// the current one. Failed attempts that made no generation are listed too.
    Generations {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Per exporter, what differs between generations A and B: `1.7.0 → 1.9.1`, added, removed.
    Diff {
        /// The generation to compare from (a number as `generations` lists it).
        a: u64,
        /// The generation to compare to.
        b: u64,
        /// Also show what changed in what Prometheus sees: metric families removed, added and
        /// relabelled, as each generation recorded them when it was made.
        #[arg(long)]
        metrics: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Current generation; per exporter its version, store path, unit state and health now;
    /// the last switch.
    Status {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Delete old generations, then every store path and cached download no root reaches.
    /// Roots: kept generations, the current and the last good one, an interrupted switch, and the
    /// executable of every running process.
    #[command(after_help = "Timer: the Debian package's exporterctl-gc.timer runs \
`exporterctl gc --older-than $EXPORTERCTL_GC_OLDER_THAN` weekly, the setting in /etc/default/exporterctl \
(default 90d); it is installed disabled: `systemctl enable --now exporterctl-gc.timer`.")]
    Gc {
        /// Keep the newest N generations (never fewer than the current one).
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Delete generations older than this (e.g. 30d); the current one is always kept.
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Show what would be deleted and how many bytes it frees; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Import binaries (and unit files) installed by hand at MANIFEST's paths into the store as
    /// the first generation, reading each version from the binary, so that state can be rolled
    /// back to.
    Adopt {
        /// A manifest naming the exporters installed by hand (their bin_dir entries and units).
        manifest: PathBuf,
    },
    /// Finish a switch that a crash interrupted (or undo it with --abort).
    Resume {
        /// Undo the interrupted switch instead of finishing it.
        #[arg(long)]
        abort: bool,
        /// Finish at most N steps side by side (default: as many as the interrupted switch or
        /// rollback ran with, from its journal; 1 = one at a time).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64), conflicts_with = "abort")]
        parallel: Option<u16>,
        /// Print the finished switch record as JSON on stdout instead of the summary
        /// (`nothing_to_do: true` when nothing was interrupted); progress lines go to stderr.
        #[arg(long)]
        json: bool,
    },
    /// List the versions upstream publishes for NAME (a catalogue entry, or an exporter of
    /// --manifest), newest first; marks the latest, pre-releases and retracted ones.
    /// Uses the forge's API (GITHUB_TOKEN / GITLAB_TOKEN raise its rate limit).
    Versions {
        /// A catalogue exporter name, e.g. `node_exporter`.
        name: String,
        /// Take NAME's source and the settings (API base URLs) from this manifest.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Validate MANIFEST against the catalogue and upstream without installing anything:
    /// versions exist (and are not retracted), assets answer a HEAD, checksum files list them.
    Check {
        /// The manifest (YAML); its lock file, if any, pins the versions to check.
        manifest: PathBuf,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Download every verified archive and checksum file of MANIFEST (its lock, if any) into DIR,
    /// laid out like the forge, for hosts without internet: serve DIR (or use file://DIR) and
    /// point settings.github.download_url / gitlab.download_url at it.
    Mirror {
        /// The manifest (YAML); its lock file, if any, pins what is mirrored.
        manifest: PathBuf,
        /// Where to write the mirror (created if missing).
        dir: PathBuf,
    },
    /// Print the completion script for SHELL on stdout, generated from these very definitions.
    ///
    /// The Debian package installs them already. Otherwise, e.g.:
    /// `exporterctl completions bash > /etc/bash_completion.d/exporterctl`,
    /// `exporterctl completions zsh > /usr/local/share/zsh/site-functions/_exporterctl`,
    /// `exporterctl completions fish > ~/.config/fish/completions/exporterctl.fish`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (exporterctl.1 and one exporterctl-COMMAND.1 per subcommand) into DIR.
    /// Used to build the package; hidden from --help.
    #[command(hide = true)]
    Man {
        /// Where to write the pages (created if missing).
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
    #[command(hide = true, name = "demo-exporter")]
    DemoExporter {
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
        #[arg(long, default_value = "127.0.0.1:9999")]
        listen: String,
        #[arg(long, default_value = "ok")]
        behaviour: String,
        /// Ignored extra arguments (as real exporters' flags).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
}

fn parse_rollout_id(s: &str) -> Result<String, String> {
    crate::rollout::validate_rollout_id(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

impl Command {
    /// What the command does with `--root`.
    pub fn root_use(&self) -> RootUse {
        match self {
            Command::Store { .. } | Command::Generations { .. } | Command::Diff { .. } | Command::Status { .. } => {
                RootUse::Read
            }
            // They ask upstream, not the host; a dry run reads it but creates nothing.
            Command::Versions { .. } | Command::Check { .. } | Command::Switch { dry_run: true, .. } => RootUse::Ignore,
            Command::Completions { .. } | Command::Man { .. } => RootUse::Ignore,
            _ => RootUse::Change,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Re-hash every store path against its name and check its modes; report each modified one;
    /// exit 1 if any.
    Verify {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List store paths with kind, name, version and size.
    Ls {
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Restore what `verify` reports: modes put back; a modified release rebuilt from its archive
    /// (download cache, else a sha256-checked download) and a generated unit re-rendered, both
    /// from MANIFEST; a profile farm rebuilt from its state.json; missing releases realised again.
    Repair {
        /// The manifest that installed the damaged releases and units (modes and farms need none).
        manifest: Option<PathBuf>,
        #[command(flatten)]
        json: JsonFlag,
    },
}
