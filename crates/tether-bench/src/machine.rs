//! The machine a run happened on, and where its report goes.

use std::process::Command;

#[derive(Debug, Clone)]
pub struct Machine {
    pub nproc: usize,
    pub model: String,
    pub memory: String,
    pub kernel: String,
    pub profile: &'static str,
    pub date: String,
    pub commit: String,
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
            .map_or_else(
                || "unknown".into(),
                |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0),
            );
        Self {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            model,
            memory,
            kernel: sh("uname", &["-r"]),
            profile: if cfg!(debug_assertions) {
                "debug (dev profile)"
            } else {
                "release"
            },
            date: sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            commit: sh("git", &["rev-parse", "--short", "HEAD"]),
        }
    }

    pub fn markdown(&self) -> String {
        format!(
            "| machine | |\n|---|---|\n| CPU | {} × {} |\n| memory | {} |\n| kernel | {} |\n\
             | tether-bench build | {} |\n| date | {} |\n| commit | {} |\n",
            self.nproc, self.model, self.memory, self.kernel, self.profile, self.date, self.commit
        )
    }
}
