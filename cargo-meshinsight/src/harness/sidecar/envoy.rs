//! The `envoy` preset: a bootstrap generated per mode and filter set.
//!
//! - `tcp`: `tcp_proxy`.
//! - `http`: `http_connection_manager` (HTTP/1.1) and the router.
//! - `grpc`: `http_connection_manager` with HTTP/2 downstream and an HTTP/2 upstream cluster.
//!
//! Filters (http and grpc): `fault` (abort at 0 %), `ratelimit` (a local rate limit with a
//! bucket that never runs dry), `tap` (every request to a file), `lua` (empty handlers),
//! `wasm` (a no-op proxy-wasm module, assembled from [`NOOP_WASM_WAT`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::harness::{Endpoint, HarnessError};
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
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `envoy --version`, e.g. `9e55.../1.40.0/Clean/RELEASE/BoringSSL` (cached per binary).
pub(crate) fn version(binary: &Path) -> Result<String, HarnessError> {
    static CACHE: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());
    if let Some((_, v)) = CACHE
        .lock()
        .expect("version cache")
        .iter()
        .find(|(p, _)| p == binary)
    {
        return Ok(v.clone());
    }
    let out = Command::new(binary)
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

fn http_filter(filter: Filter, dir: &Path) -> Value {
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
                        "file_per_tap": {"path_prefix": dir.join("tap").join("trace").display().to_string()}
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
/// Files it refers to (the wasm module, the tap directory) live in `dir`.
pub(crate) fn bootstrap(
    config: &SidecarConfig,
    listen: &Endpoint,
    upstream: &Endpoint,
    dir: &Path,
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
                .map(|&f| http_filter(f, dir))
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

/// Writes the bootstrap and the files it refers to into `dir`; returns the bootstrap's path.
pub(crate) fn write_files(
    config: &SidecarConfig,
    listen: &Endpoint,
    upstream: &Endpoint,
    dir: &Path,
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
        std::fs::create_dir_all(dir.join("tap")).map_err(io("create the tap directory"))?;
    }
    let path = dir.join("envoy.json");
    let text = serde_json::to_string_pretty(&bootstrap(config, listen, upstream, dir))
        .expect("json values serialize");
    std::fs::write(&path, text).map_err(io("write the envoy bootstrap"))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let tcp = bootstrap(&"tcp".parse().unwrap(), &listen, &up, dir).to_string();
        assert!(tcp.contains("tcp_proxy") && tcp.contains("/tmp/echo.sock"));
        let grpc = bootstrap(&"grpc+lua,wasm".parse().unwrap(), &listen, &up, dir).to_string();
        assert!(grpc.contains("http2_protocol_options") && grpc.contains("\"HTTP2\""));
        let lua = grpc.find("envoy.filters.http.lua").unwrap();
        let wasm = grpc.find("envoy.filters.http.wasm").unwrap();
        let router = grpc.find("envoy.filters.http.router").unwrap();
        assert!(lua < wasm && wasm < router, "router must come last");
    }
}
