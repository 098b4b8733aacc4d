//! The vocabulary: modes, components, filters and sidecar configurations.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How the sidecar handles traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Mode {
    /// A byte relay (Envoy's tcp_proxy).
    Tcp,
    /// HTTP/1.1 with parsing and routing.
    Http,
    /// gRPC over HTTP/2.
    Grpc,
}

impl Mode {
    /// Every mode, in display order.
    pub const ALL: [Mode; 3] = [Mode::Tcp, Mode::Http, Mode::Grpc];

    /// The lowercase name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
            Mode::Grpc => "grpc",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a mode, component or filter, or filters on tcp.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VocabError {
    /// Not tcp, http or grpc.
    #[error("unknown mode `{0}` (expected tcp, http or grpc)")]
    UnknownMode(String),
    /// Not a component name.
    #[error("unknown component `{0}` (expected ipc, read, write, notify, parsing or other)")]
    UnknownComponent(String),
    /// Not a filter name.
    #[error("unknown filter `{0}` (expected fault, ratelimit, tap, lua or wasm)")]
    UnknownFilter(String),
    /// Filters asked of the tcp mode.
    #[error("filters ({0}) need the http or grpc mode, not tcp")]
    FiltersOnTcp(String),
}

impl TryFrom<String> for Mode {
    type Error = VocabError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for Mode {
    type Err = VocabError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| VocabError::UnknownMode(s.to_string()))
    }
}

/// A part of the sidecar's cost. Filters are kept apart, see [`Filter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Component {
    /// Loopback network stack: NET_RX softirq and loopback transmit.
    Ipc,
    /// read/recv system calls.
    Read,
    /// write/send system calls, less nested NET_RX.
    Write,
    /// epoll/poll and wake-up delay.
    Notify,
    /// User-space protocol work beyond a TCP relay (HTTP/1.1 or HTTP/2 parsing).
    Parsing,
    /// The rest of the sidecar's user-space work (a TCP relay's).
    Other,
}

impl Component {
    /// Every component, in display order.
    pub const ALL: [Component; 6] = [
        Component::Ipc,
        Component::Read,
        Component::Write,
        Component::Notify,
        Component::Parsing,
        Component::Other,
    ];

    /// The lowercase name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Ipc => "ipc",
            Component::Read => "read",
            Component::Write => "write",
            Component::Notify => "notify",
            Component::Parsing => "parsing",
            Component::Other => "other",
        }
    }

    /// The name the paper uses.
    pub fn title(self) -> &'static str {
        match self {
            Component::Ipc => "IPC",
            Component::Read => "Read",
            Component::Write => "Write",
            Component::Notify => "Notification",
            Component::Parsing => "Parsing",
            Component::Other => "Other",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Component {
    type Error = VocabError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for Component {
    type Err = VocabError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Component::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| VocabError::UnknownComponent(s.to_string()))
    }
}

/// A sidecar filter applied on top of the http or grpc mode (the paper's five).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Filter {
    /// Fault injection, configured but injecting nothing.
    Fault,
    /// Local rate limit that never limits.
    Ratelimit,
    /// Tap to a file.
    Tap,
    /// A no-op Lua script.
    Lua,
    /// A no-op WebAssembly (proxy-wasm) module.
    Wasm,
}

impl Filter {
    /// Every filter, in display order.
    pub const ALL: [Filter; 5] = [
        Filter::Fault,
        Filter::Ratelimit,
        Filter::Tap,
        Filter::Lua,
        Filter::Wasm,
    ];

    /// The lowercase name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::Fault => "fault",
            Filter::Ratelimit => "ratelimit",
            Filter::Tap => "tap",
            Filter::Lua => "lua",
            Filter::Wasm => "wasm",
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Filter {
    type Error = VocabError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for Filter {
    type Err = VocabError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| VocabError::UnknownFilter(s.to_string()))
    }
}

/// What the probe attributes a thread's time to (docs/probe.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeComponent {
    /// read/readv/recv* returning data, less nested softirqs.
    Read,
    /// write/writev/send* that sent data, less nested softirqs and loopback transmit.
    Write,
    /// NET_RX/NET_TX softirqs and loopback transmit.
    Ipc,
    /// On-CPU time in epoll/poll/select plus wake-up delay.
    Notify,
    /// On-CPU time outside syscalls and softirqs.
    User,
    /// Every other syscall (and failed reads/writes) and other softirqs.
    OtherKernel,
}

impl ProbeComponent {
    /// In the order of the `COMP_*` indexes of the probe's C header.
    pub const ALL: [ProbeComponent; 6] = [
        ProbeComponent::Read,
        ProbeComponent::Write,
        ProbeComponent::Ipc,
        ProbeComponent::Notify,
        ProbeComponent::User,
        ProbeComponent::OtherKernel,
    ];

    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeComponent::Read => "read",
            ProbeComponent::Write => "write",
            ProbeComponent::Ipc => "ipc",
            ProbeComponent::Notify => "notify",
            ProbeComponent::User => "user",
            ProbeComponent::OtherKernel => "other_kernel",
        }
    }
}

impl fmt::Display for ProbeComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one sidecar does to the traffic that crosses it: a mode and a set of filters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SidecarConfig {
    /// The traffic mode.
    pub mode: Mode,
    /// Filters on top of the mode, without duplicates, in a fixed order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
}

impl SidecarConfig {
    /// A configuration; the filters are sorted and deduplicated.
    pub fn new(mode: Mode, mut filters: Vec<Filter>) -> Result<Self, VocabError> {
        filters.sort();
        filters.dedup();
        if mode == Mode::Tcp && !filters.is_empty() {
            let names: Vec<&str> = filters.iter().map(|f| f.as_str()).collect();
            return Err(VocabError::FiltersOnTcp(names.join(",")));
        }
        Ok(SidecarConfig { mode, filters })
    }

    /// `mode` without filters.
    pub fn plain(mode: Mode) -> Self {
        SidecarConfig {
            mode,
            filters: Vec::new(),
        }
    }
}

impl fmt::Display for SidecarConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode.as_str())?;
        for (i, filter) in self.filters.iter().enumerate() {
            f.write_str(if i == 0 { "+" } else { "," })?;
            f.write_str(filter.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for SidecarConfig {
    type Err = VocabError;
    /// `http`, `http+lua`, `grpc+fault,ratelimit`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (mode, filters) = match s.split_once('+') {
            Some((m, f)) => (m, Some(f)),
            None => (s, None),
        };
        let mode: Mode = mode.trim().parse()?;
        let filters = match filters {
            Some(list) => list
                .split(',')
                .map(|f| f.trim().parse())
                .collect::<Result<Vec<Filter>, _>>()?,
            None => Vec::new(),
        };
        SidecarConfig::new(mode, filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_through_its_display_form() {
        let c: SidecarConfig = "http+wasm,lua,lua".parse().unwrap();
        assert_eq!(c.filters, vec![Filter::Lua, Filter::Wasm]);
        assert_eq!(c.to_string(), "http+lua,wasm");
        assert_eq!(c.to_string().parse::<SidecarConfig>().unwrap(), c);
    }

    #[test]
    fn filters_on_tcp_and_unknown_names_are_refused() {
        assert!(
            "tcp+lua"
                .parse::<SidecarConfig>()
                .unwrap_err()
                .to_string()
                .contains("http or grpc")
        );
        assert!(
            "quic"
                .parse::<SidecarConfig>()
                .unwrap_err()
                .to_string()
                .contains("unknown mode `quic`")
        );
        assert!(
            "http+x"
                .parse::<SidecarConfig>()
                .unwrap_err()
                .to_string()
                .contains("unknown filter `x`")
        );
    }
}
