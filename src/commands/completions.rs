//! `exporterctl completions SHELL` and the hidden `exporterctl man --out-dir DIR`:
//! shell completions and man pages rendered from the clap definitions in
//! `cli.rs`, the same ones `--help` prints, so the three can never disagree.

use crate::cli::Cli;
use crate::fsutil;
use anyhow::{Context as _, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) -> Result<()> {
    let mut cmd = visible_tree(&Cli::command());
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
    out.flush().context("writing the completion script")?;
    Ok(())
}

/// The command tree without its hidden subcommands (`demo-exporter`, `man`):
/// clap_complete's scripts would offer them too. Names, arguments and the
/// one-line help are all a completion uses.
fn visible_tree(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_string())
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).map(visible_tree));
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(version.to_string());
    }
    out
}

/// Writes `exporterctl.1` and one page per visible subcommand
/// (`exporterctl-store-verify.1`, …) into `dir`; returns the paths written.
pub fn man_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    fsutil::create_dir_all_durable(dir).with_context(|| format!("creating {}", dir.display()))?;
    // clap's own `help` subcommand only repeats --help: no page for it, and
    // no page names it. Building fills in each subcommand's display name
    // (`exporterctl-store-verify`) that its page is named by.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_pages(&cmd, None, dir, &mut written)?;
    Ok(written)
}

fn write_pages(cmd: &clap::Command, parent: Option<&str>, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    // Every page's footer names the program and its version, not the subcommand.
    let source = format!("exporterctl {}", env!("CARGO_PKG_VERSION"));
    let man = clap_mangen::Man::new(cmd.clone()).source(source);
    let mut page = Vec::new();
    render_page(&man, cmd, parent, &mut page).context("rendering a man page")?;
    let path = dir.join(man.get_filename());
    fsutil::write_atomic(&path, &page).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    let name = page_name(cmd);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, Some(&name), dir, written)?;
    }
    Ok(())
}

fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name().unwrap_or(cmd.get_name()).to_string()
}

/// clap_mangen's sections, except that the `after_help` text (lines such as
/// `Files: …`, `Exit status: …`) becomes the man page's own FILES, EXIT
/// STATUS … sections instead of one "EXTRA", and SEE ALSO links the pages.
fn render_page(
    man: &clap_mangen::Man,
    cmd: &clap::Command,
    parent: Option<&str>,
    w: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    man.render_title(w)?;
    // No hyphenation: command and option names must read as typed.
    writeln!(w, ".nh")?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !subs.is_empty() {
        man.render_subcommands_section(w)?;
    }
    if let Some(after) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        for (heading, text) in after_help_sections(&after.to_string()) {
            writeln!(w, ".SH \"{}\"", heading.to_uppercase())?;
            writeln!(w, "{}", roff_text(&text))?;
        }
    }
    if parent.is_none() && cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    let mut see_also: Vec<String> = Vec::new();
    if let Some(parent) = parent {
        if parent != "exporterctl" {
            see_also.push("exporterctl".to_string());
        }
        see_also.push(parent.to_string());
    }
    see_also.extend(subs.iter().map(|s| page_name(s)));
    writeln!(w, ".SH \"SEE ALSO\"")?;
    let links: Vec<String> = see_also
        .iter()
        .map(|p| format!("\\fB{}\\fR(1)", roff_escape(p)))
        .collect();
    if !links.is_empty() {
        writeln!(w, "{}", links.join(",\n"))?;
        writeln!(w, ".PP")?;
    }
    writeln!(
        w,
        "{}",
        roff_text(
            "The user guide, manifest reference and design notes: /usr/share/doc/exporterctl/ \
             (docs/ in the source repository)."
        )
    )
}

/// Splits `Heading: text` lines into sections; other lines go to NOTES.
fn after_help_sections(after: &str) -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in after.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (heading, text) = match line.split_once(": ") {
            Some((h, t)) if h.split_whitespace().count() <= 3 && h.chars().all(|c| c.is_alphabetic() || c == ' ') => {
                (h.to_string(), t.to_string())
            }
            _ => ("Notes".to_string(), line.to_string()),
        };
        match sections.iter_mut().find(|(h, _)| *h == heading) {
            Some((_, t)) => {
                t.push(' ');
                t.push_str(&text);
            }
            None => sections.push((heading, text)),
        }
    }
    sections
}

/// Escapes text for roff: backslashes, hyphens (so `--root` prints as typed
/// and is searchable) and a leading control character.
fn roff_escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// One paragraph of running text.
fn roff_text(text: &str) -> String {
    let escaped = roff_escape(text);
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_help_lines_become_named_sections() {
        let s = after_help_sections("Files: a\nExit status: 0 ok\nsomething else\nFiles: b");
        assert_eq!(
            s,
            vec![
                ("Files".to_string(), "a b".to_string()),
                ("Exit status".to_string(), "0 ok".to_string()),
                ("Notes".to_string(), "something else".to_string()),
            ]
        );
    }

    #[test]
    fn roff_text_cannot_start_a_request() {
        assert_eq!(roff_text(".SH x"), "\\&.SH x");
        assert_eq!(roff_text("a\\b --c"), "a\\eb \\-\\-c");
    }
}
