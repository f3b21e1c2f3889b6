//! The README's first command: the whole story under a temporary root.

#[test]
fn the_demo_tells_the_whole_story_and_cleans_up() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exporterctl"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("→ generation 1"), "{stdout}");
    assert!(stdout.contains("1.0.0 → 2.0.0          succeeded"), "{stdout}");
    assert!(stdout.contains("nothing to do"), "{stdout}");
    // v3 crashes: refused by the default preflight, untouched...
    assert!(
        stdout.contains("preflight: refused (demo_exporter cannot start here): nothing was changed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the running 2.0.0, started the same way, serves"),
        "{stdout}"
    );
    // ...then, with --preflight off, caught by the health check and rolled back.
    assert!(stdout.contains("2.0.0 → 3.0.0          failed"), "{stdout}");
    assert!(
        stdout.contains("rolled back to demo_exporter 2.0.0, healthy again"),
        "{stdout}"
    );
    // The banner names the rollback too: look for the rollback's own record.
    assert!(
        stdout.lines().any(|l| l.starts_with("rollback ")
            && l.contains(": succeeded: 1 succeeded")
            && l.ends_with("→ generation 1")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("2.0.0 → 1.0.0") && l.contains("succeeded (")),
        "{stdout}"
    );
    let root = stdout.split_whitespace().nth(3).unwrap();
    assert!(root.contains("exporterctl-demo-"), "{root}");
    assert!(
        !std::path::Path::new(root).exists(),
        "the demo root {root} was left behind"
    );
}
