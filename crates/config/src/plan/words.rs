//! The TOML spelling of the table enums.

use crate::tables::{DirectTrust, InterruptMode, LogLevel, RestartPolicy, VmKind};

/// `rt` / `general`.
pub fn kind(k: VmKind) -> &'static str {
    match k {
        VmKind::Rt => "rt",
        VmKind::General => "general",
    }
}

/// `virtual` / `direct` with its `direct-trust`.
pub fn mode(m: InterruptMode, t: DirectTrust) -> &'static str {
    match (m, t) {
        (InterruptMode::Virtual, _) => "virtual",
        (InterruptMode::Direct, DirectTrust::Untrusted) => "direct (untrusted)",
        (InterruptMode::Direct, DirectTrust::Trusted) => "direct (trusted)",
    }
}

/// `never` / `on-crash` / `always`.
pub fn restart(r: RestartPolicy) -> &'static str {
    match r {
        RestartPolicy::Never => "never",
        RestartPolicy::OnCrash => "on-crash",
        RestartPolicy::Always => "always",
    }
}

/// `error` / `warn` / `info` / `debug`.
pub fn log_level(l: LogLevel) -> &'static str {
    match l {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    }
}
