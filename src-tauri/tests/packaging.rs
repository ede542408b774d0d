//! The Linux package's `.desktop` entry hands `tether:` links to the app:
//! its template (bundle.linux.deb.desktopTemplate) must pass the URL (`%u`)
//! and claim every scheme the deep-link plugin is configured with. Checked
//! on the template and config, not on a built .deb (building one takes a
//! release build; the README shows how to inspect the real package).

use std::path::PathBuf;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config() -> serde_json::Value {
    let text =
        std::fs::read_to_string(manifest_dir().join("tauri.conf.json")).expect("tauri.conf.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn desktop_template() -> String {
    let conf = config();
    let rel = conf["bundle"]["linux"]["deb"]["desktopTemplate"]
        .as_str()
        .expect("bundle.linux.deb.desktopTemplate is set");
    std::fs::read_to_string(manifest_dir().join(rel)).expect("the desktop template exists")
}

fn key<'a>(desktop: &'a str, name: &str) -> Option<&'a str> {
    desktop
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

#[test]
fn desktop_entry_passes_the_link_to_the_app() {
    let desktop = desktop_template();
    let exec = key(&desktop, "Exec").expect("an Exec line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("{{exec}}"), "Exec runs the app: {exec}");
    assert_eq!(
        words.collect::<Vec<_>>(),
        ["%u"],
        "Exec passes exactly one URL: {exec}"
    );
}

#[test]
fn desktop_entry_claims_every_configured_scheme() {
    let desktop = desktop_template();
    let mime: Vec<&str> = key(&desktop, "MimeType")
        .expect("a MimeType line")
        .split(';')
        .filter(|s| !s.is_empty())
        .collect();
    let conf = config();
    let schemes = conf["plugins"]["deep-link"]["desktop"]["schemes"]
        .as_array()
        .expect("deep-link desktop schemes");
    assert!(!schemes.is_empty());
    for scheme in schemes {
        let scheme = scheme.as_str().expect("a scheme is a string");
        let want = format!("x-scheme-handler/{scheme}");
        assert!(
            mime.contains(&want.as_str()),
            "{want} missing from {mime:?}"
        );
    }
}
