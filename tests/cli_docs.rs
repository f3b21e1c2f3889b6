//! The man pages and shell completions are generated from the clap tree: every
//! visible subcommand and option of `--help` must be in them, and nothing
//! hidden may leak into them.

use clap::CommandFactory;
use exporterctl::cli::Cli;
use std::path::Path;
use std::process::Command;

fn exporterctl(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_exporterctl"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exporterctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every visible subcommand as its path of names (`["store", "verify"]`),
/// with its command; clap's own `help` is not one of ours.
fn visible_subcommands(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, clap::Command)>) {
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let mut p = path.to_vec();
        p.push(sub.get_name().to_string());
        out.push((p.clone(), sub.clone()));
        visible_subcommands(sub, &p, out);
    }
}

fn all_visible() -> Vec<(Vec<String>, clap::Command)> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut subs = Vec::new();
    visible_subcommands(&cmd, &[], &mut subs);
    subs
}

fn long_options(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// `word` occurs delimited by characters that cannot be part of a command or
/// option name.
fn has_word(text: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
}

/// roff spells `-` as `\-`.
fn roff(s: &str) -> String {
    s.replace('-', "\\-")
}

#[test]
fn the_tree_is_not_empty_and_knows_nested_commands() {
    let subs = all_visible();
    let names: Vec<String> = subs.iter().map(|(p, _)| p.join(" ")).collect();
    for expected in ["switch", "rollback", "gc", "store verify", "store ls", "completions"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n == "man" || n == "demo-exporter"), "{names:?}");
}

#[test]
fn every_subcommand_and_option_has_a_man_page_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let listed = exporterctl(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    let read = |name: &str| {
        let path = dir.path().join(format!("{name}.1"));
        assert!(
            listed.lines().any(|l| Path::new(l) == path),
            "{name}.1 not reported in {listed}"
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let top = read("exporterctl");
    for opt in long_options(&Cli::command()) {
        assert!(top.contains(&roff(&format!("--{opt}"))), "exporterctl.1 lacks --{opt}");
    }
    for section in [".SH \"FILES\"", ".SH \"EXIT STATUS\"", ".SH \"SEE ALSO\""] {
        assert!(top.contains(section), "exporterctl.1 lacks {section}");
    }
    let subs = all_visible();
    for (path, cmd) in &subs {
        let page_name = format!("exporterctl-{}", path.join("-"));
        let page = read(&page_name);
        let parent = if path.len() == 1 {
            top.clone()
        } else {
            read(&format!("exporterctl-{}", path[..path.len() - 1].join("-")))
        };
        assert!(
            parent.contains(&roff(&page_name)),
            "the parent page does not link {page_name}"
        );
        for opt in long_options(cmd) {
            assert!(page.contains(&roff(&format!("--{opt}"))), "{page_name}.1 lacks --{opt}");
        }
        // `Heading: text` lines after the help become the page's sections.
        if let Some(after) = cmd.get_after_help() {
            for line in after.to_string().lines() {
                let heading = line.split_once(": ").unwrap().0.to_uppercase();
                assert!(
                    page.contains(&format!(".SH \"{heading}\"")),
                    "{page_name}.1 lacks {heading}"
                );
            }
        }
        // The page's description is the --help text.
        let about = cmd.get_about().unwrap().to_string();
        let first_words: String = about.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
        assert!(
            page.contains(&roff(&first_words)),
            "{page_name}.1 lacks its about: {first_words}"
        );
    }
    // One page per visible command, and none for hidden ones or `help`.
    let pages = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(pages, subs.len() + 1, "{listed}");
    for hidden in ["man", "demo-exporter", "help"] {
        assert!(!dir.path().join(format!("exporterctl-{hidden}.1")).exists(), "{hidden}");
        assert!(!has_word(&top, &roff(&format!("exporterctl-{hidden}"))), "{hidden}");
    }
}

#[test]
fn every_subcommand_and_option_is_completed_in_bash_zsh_and_fish() {
    let subs = all_visible();
    for shell in ["bash", "zsh", "fish"] {
        let script = exporterctl(&["completions", shell]);
        for (path, cmd) in &subs {
            let name = path.last().unwrap();
            assert!(has_word(&script, name), "{shell} completion lacks {}", path.join(" "));
            for opt in long_options(cmd) {
                // fish lists long options without their dashes (`-l dry-run`).
                let spelled = if shell == "fish" {
                    format!("-l {opt}")
                } else {
                    format!("--{opt}")
                };
                assert!(
                    has_word(&script, &spelled),
                    "{shell} completion lacks {} --{opt}",
                    path.join(" ")
                );
            }
        }
        assert!(
            !has_word(&script, "demo-exporter"),
            "{shell} completes a hidden command"
        );
    }
}

#[test]
fn an_unknown_shell_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_exporterctl"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
