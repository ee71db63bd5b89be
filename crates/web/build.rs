//! Builds the dashboard (`web/`) with npm and embeds the result; see `src/lib.rs`.
//!
//! Cargo reruns this script when anything under `web/` that goes into the build changes,
//! so an edit to the dashboard is picked up by the next `cargo build`, and an untouched
//! checkout never runs npm twice. Two cargo builds (say `dev` and `release`) may run it at
//! once: a lock file keeps their `npm ci` runs apart, since both write `web/node_modules`.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What goes into the build. Cargo reruns a script on every build when a path it was
/// told to watch does not exist, so only the inputs present are named (`public/` is
/// optional in a Vite project).
const INPUTS: [&str; 7] = [
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let web_dir = manifest_dir.join("../../web");
    let web_dir = web_dir.canonicalize().unwrap_or(web_dir);
    println!("cargo::rerun-if-env-changed=SIGHTLINE_WEB_SKIP");
    println!("cargo::rerun-if-env-changed=SIGHTLINE_WEB_DIST");
    for input in INPUTS {
        let path = web_dir.join(input);
        if path.exists() {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }

    if std::env::var_os("SIGHTLINE_WEB_SKIP").is_some_and(|value| value != "0") {
        println!(
            "cargo::warning=SIGHTLINE_WEB_SKIP is set: this build serves a placeholder page instead of the dashboard"
        );
        let placeholder = out_dir.join("placeholder");
        fs::create_dir_all(&placeholder).expect("OUT_DIR is writable");
        fs::write(placeholder.join("index.html"), PLACEHOLDER).expect("OUT_DIR is writable");
        embed(&placeholder, &out_dir, false);
        return;
    }
    if let Some(dist) = std::env::var_os("SIGHTLINE_WEB_DIST") {
        let dist = PathBuf::from(dist);
        println!("cargo::rerun-if-changed={}", dist.display());
        if !dist.join("index.html").is_file() {
            fail(&format!(
                "SIGHTLINE_WEB_DIST={} has no index.html; point it at a built web/dist (cd web && npm ci && npm run build)",
                dist.display()
            ));
        }
        embed(&dist, &out_dir, true);
        return;
    }
    if !web_dir.join("package.json").is_file() {
        fail(&format!(
            "the dashboard's sources are missing ({} has no package.json)",
            web_dir.display()
        ));
    }
    check_node();
    let dist = out_dir.join("dist");
    {
        let _lock = BuildLock::take(&web_dir.join(".build.lock"));
        install_if_stale(&web_dir);
        run_npm(
            &web_dir,
            &[
                "run",
                "build",
                "--",
                "--outDir",
                &dist.display().to_string(),
                "--emptyOutDir",
            ],
            "npm run build",
        );
    }
    embed(&dist, &out_dir, true);
}

/// Ends the build with a message for the person running cargo (who sees this script's
/// stderr when it fails).
fn fail(problem: &str) -> ! {
    let advice = if problem.contains("was not found") {
        "Install Node.js 20 or later (with npm) and build again"
    } else {
        "Fix what is named above and build again"
    };
    eprintln!();
    eprintln!("error: cannot build Sightline's dashboard: {problem}.");
    eprintln!(
        "       {advice}, or set SIGHTLINE_WEB_SKIP=1 to build a server without the dashboard."
    );
    std::process::exit(1);
}

fn check_node() {
    for tool in ["node", "npm"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success());
        if !found {
            fail(&format!("`{tool}` was not found on the PATH"));
        }
    }
}

/// `npm ci` when `node_modules` is missing or older than the lock file: npm writes its
/// own copy of the lock into `node_modules/.package-lock.json` on every install.
fn install_if_stale(web_dir: &Path) {
    let modified = |path: &Path| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    let lock = modified(&web_dir.join("package-lock.json"));
    let installed = modified(&web_dir.join("node_modules/.package-lock.json"));
    let fresh = match (lock, installed) {
        (Some(lock), Some(installed)) => installed >= lock,
        _ => false,
    };
    if fresh {
        return;
    }
    run_npm(
        web_dir,
        &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
        "npm ci",
    );
}

fn run_npm(web_dir: &Path, args: &[&str], what: &str) {
    let output = Command::new("npm")
        .args(args)
        .current_dir(web_dir)
        .output()
        .unwrap_or_else(|error| fail(&format!("{what} could not start ({error})")));
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        fail(&format!(
            "`{what}` in {} failed ({}); its output is above",
            web_dir.display(),
            output.status
        ));
    }
}

/// An exclusive lock on a file, released on drop (when the file handle closes).
struct BuildLock {
    _file: fs::File,
}

impl BuildLock {
    fn take(path: &Path) -> BuildLock {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|error| fail(&format!("cannot create {} ({error})", path.display())));
        file.lock()
            .unwrap_or_else(|error| fail(&format!("cannot lock {} ({error})", path.display())));
        BuildLock { _file: file }
    }
}

/// Writes `assets.rs`: one `Asset` per file under `dist`, its bytes compressed into
/// `OUT_DIR/embedded/` and pulled in with `include_bytes!`.
fn embed(dist: &Path, out_dir: &Path, built: bool) {
    let embedded_dir = out_dir.join("embedded");
    let _ = fs::remove_dir_all(&embedded_dir);
    fs::create_dir_all(&embedded_dir).expect("OUT_DIR is writable");
    let mut files = Vec::new();
    collect_files(dist, dist, &mut files);
    files.sort();
    if !files.iter().any(|(url, _)| url == "/index.html") {
        fail(&format!(
            "the build wrote no index.html into {}",
            dist.display()
        ));
    }
    let mut code = String::from("static ASSETS: &[Asset] = &[\n");
    for (number, (url, path)) in files.iter().enumerate() {
        let bytes = fs::read(path).expect("a file just listed is readable");
        let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&bytes));
        let content_type = content_type(url);
        let gzipped = worth_compressing(url);
        let body = if gzipped { gzip(&bytes) } else { bytes };
        let stored = embedded_dir.join(number.to_string());
        fs::write(&stored, &body).expect("OUT_DIR is writable");
        let immutable = url.starts_with("/assets/");
        writeln!(
            code,
            "    Asset {{ path: {url:?}, content_type: {content_type:?}, etag: {etag:?}, body: include_bytes!({stored:?}), gzipped: {gzipped}, immutable: {immutable} }},",
            stored = stored.display().to_string(),
        )
        .expect("writing to a String cannot fail");
    }
    code.push_str("];\n");
    writeln!(code, "const DASHBOARD_BUILT: bool = {built};").expect("String");
    fs::write(out_dir.join("assets.rs"), code).expect("OUT_DIR is writable");
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|error| fail(&format!("cannot read {} ({error})", dir.display())));
    for entry in entries {
        let path = entry.expect("a listed entry").path();
        if path.is_dir() {
            collect_files(root, &path, files);
            continue;
        }
        let relative = path.strip_prefix(root).expect("under the root");
        let url = format!(
            "/{}",
            relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        );
        files.push((url, path));
    }
}

fn content_type(url: &str) -> &'static str {
    let extension = url.rsplit_once('.').map_or("", |(_, extension)| extension);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Already compressed formats would only grow.
fn worth_compressing(url: &str) -> bool {
    ![".png", ".jpg", ".jpeg", ".webp", ".woff2", ".gz"]
        .iter()
        .any(|extension| url.ends_with(extension))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sightline</title>
<style>body{font:16px system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}</style></head>
<body><h1>Sightline is running</h1>
<p>This binary was built with <code>SIGHTLINE_WEB_SKIP</code>, so it has no dashboard. Install Node.js 20 or later and build again to get it.</p>
<p>The API works: <a href="/v1/kpis">/v1/kpis</a>, <a href="/v1/openapi.json">/v1/openapi.json</a>, <a href="/metrics">/metrics</a>.</p>
</body></html>
"#;
