//! The dashboard in a real browser: `web/e2e/dashboard.mjs` (Node, playwright-core, headless
//! Chromium) drives this crate's `sightline` binary through the demo (every panel fills,
//! numbers move, the page survives a server restart) and a configured user KPI (exact
//! counts, live).
//!
//! It needs Node and Chromium, so it runs only when `SIGHTLINE_TEST_CHROMIUM` names the
//! browser (`.ci/run` sets it); otherwise it says loudly that it was skipped.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[test]
fn the_dashboard_works_in_a_browser() {
    let Some(chromium) = std::env::var_os("SIGHTLINE_TEST_CHROMIUM") else {
        say(concat!(
            "\n==================================================================\n",
            "  SKIPPED: the browser tests of the dashboard (web/e2e/dashboard.mjs)\n",
            "  SIGHTLINE_TEST_CHROMIUM is not set. Set it to a Chromium binary\n",
            "  (e.g. SIGHTLINE_TEST_CHROMIUM=/usr/bin/chromium) to run them.\n",
            "==================================================================\n",
        ));
        return;
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let web = repo.join("web");
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "{} has no node_modules/playwright-core: the build script's `npm ci` should have installed it; run `cd web && npm ci`",
        web.display()
    );
    let data_dir = tempfile::tempdir().expect("a temp dir for the test's servers");
    let mut child = Command::new("node")
        .arg("web/e2e/dashboard.mjs")
        .current_dir(&repo)
        .env("SIGHTLINE_BIN", env!("CARGO_BIN_EXE_sightline"))
        .env("CHROMIUM", &chromium)
        .env("DATA_DIR", data_dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (is Node.js installed and on PATH?)");
    // Streamed line by line so a slow step shows where it is while the test runs.
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines() {
        match line {
            Ok(line) => say(&format!("{line}\n")),
            Err(_) => break,
        }
    }
    let status = child.wait().expect("node finishes");
    assert!(
        status.success(),
        "the browser test failed ({status}); its output is above"
    );
}

/// Straight to the process's stderr: the test harness captures `eprintln!`, and a skip or
/// the browser test's progress should show in a plain `cargo test` run.
fn say(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}
