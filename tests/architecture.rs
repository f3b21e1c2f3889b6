//! The library's layers (docs/design.md, "Layers"): each module uses only
//! the ones below it, so no arrow points up and the module graph has no
//! cycle. Read from the sources: a `crate::X` path outside comments and
//! outside `#[cfg(test)]` code is an arrow to `X`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top to bottom. `monitoring::window` (the engine's hooks) is the one file
/// of `monitoring` above the engine. Every module of the library is listed
/// (`every_module_has_a_layer`): a new one takes its place here.
const LAYERS: &[&str] = &[
    "adopt",
    "repair",
    "gc",
    "mirror",
    "monitoring::window",
    "switch",
    "plan",
    "rollout",
    "preflight",
    "exit",
    "realise",
    "resolve",
    "manifest",
    "units",
    "catalogue",
    "monitoring",
    "generation",
    "demo",
    "health",
    "source",
    "store",
    "service",
    "names",
    "template",
    "fault",
    "fsutil",
    "redact",
    "paths",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer a source file belongs to (`None`: the binary, the CLI, the
/// commands, or a test module).
fn module_of(rel: &Path) -> Option<&'static str> {
    let parts: Vec<&str> = rel.iter().map(|p| p.to_str().unwrap()).collect();
    let last = *parts.last()?;
    if last.ends_with("tests.rs") || parts.contains(&"testdata") {
        return None;
    }
    let top = parts[0].trim_end_matches(".rs");
    let name = if top == "monitoring" && last == "window.rs" {
        "monitoring::window"
    } else {
        top
    };
    LAYERS.iter().find(|l| **l == name).copied()
}

/// The modules `text` names as `crate::X`, outside comments and test code.
fn arrows(text: &str) -> Vec<String> {
    let code = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let full = if name == "monitoring" && rest[name.len()..].starts_with("::window") {
                "monitoring::window".to_string()
            } else {
                name
            };
            out.push(full);
        }
    }
    out
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    let mut up = Vec::new();
    let mut checked = 0;
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let Some(module) = module_of(rel) else { continue };
        checked += 1;
        let text = std::fs::read_to_string(&f).unwrap();
        for target in arrows(&text) {
            let (Some(from), Some(to)) = (rank.get(module), rank.get(target.as_str())) else {
                continue;
            };
            if to < from {
                up.push(format!("{} ({module}) uses {target}", rel.display()));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} source files found under {}",
        src.display()
    );
    assert!(up.is_empty(), "arrows pointing up:\n{}", up.join("\n"));
}

#[test]
fn an_arrow_up_is_seen() {
    // The check itself: the manifest naming the units is fine, the units
    // naming the manifest is not; comments and test code do not count.
    assert_eq!(arrows("use crate::manifest::Exporter;"), ["manifest"]);
    assert_eq!(arrows("// crate::manifest\nfn f() {}"), Vec::<String>::new());
    assert_eq!(
        arrows("fn f() {}\n#[cfg(test)]\nuse crate::manifest;"),
        Vec::<String>::new()
    );
    assert_eq!(arrows("crate::monitoring::window::settings_of"), ["monitoring::window"]);
    assert_eq!(module_of(Path::new("units/sandbox.rs")), Some("units"));
    assert_eq!(module_of(Path::new("monitoring/window.rs")), Some("monitoring::window"));
    assert_eq!(module_of(Path::new("switch/socket_activation_tests.rs")), None);
    assert_eq!(module_of(Path::new("commands/switch.rs")), None);
}

/// The binary's own files and the command layer sit above the library.
const ABOVE_THE_LIBRARY: &[&str] = &["main", "lib", "cli", "commands"];

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if !ABOVE_THE_LIBRARY.contains(&name.as_str()) && !LAYERS.contains(&name.as_str()) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "modules without a layer in LAYERS: {missing:?}");
}
