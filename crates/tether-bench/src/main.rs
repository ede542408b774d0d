//! `tether-bench`: Tether's figures, each as p50/p95/max over N runs.
//!
//! ```text
//! tether-bench [--quick] [--runs N] [all|join|recovery|sfu|memory|scale]
//! ```
//!
//! Full mode (by hand) rewrites the measured part of `BENCHMARKS.md`; `--quick`
//! (CI, < 2 minutes) writes `target/tether-bench/BENCHMARKS.quick.md` instead,
//! so a CI run never dirties the tree. The recovery and detection figures need
//! root (network namespaces). Every run prints its tables too, and exits
//! non-zero only on a gross failure (e.g. a client that never reconnected),
//! never because a figure missed its goal.

mod host;
mod join;
mod machine;
mod mediapeer;
mod memory;
mod peer;
mod proc;
mod recovery;
mod scale;
mod sfu;
mod sniff;
mod stats;
mod ws;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use machine::Machine;
use stats::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum What {
    All,
    Join,
    Recovery,
    Sfu,
    Memory,
    Scale,
}

#[derive(Debug, Parser)]
#[command(name = "tether-bench", about = "Tether's benchmark harness")]
struct Args {
    /// What to measure.
    #[arg(value_enum, default_value = "all")]
    what: What,
    /// Small sample sizes for CI (under 2 minutes); results go under target/.
    #[arg(long)]
    quick: bool,
    /// Runs per figure for join and recovery (default: 5 quick / 20 and 5 full).
    #[arg(long)]
    runs: Option<usize>,
    /// Where the full report goes (default: BENCHMARKS.md at the repository root).
    #[arg(long)]
    out: Option<PathBuf>,
    /// memory: participant counts with media (e.g. `--media 100,200`).
    #[arg(long, value_delimiter = ',')]
    media: Option<Vec<usize>>,
    /// memory: signalling-only participant counts (`--signalling 0` for none).
    #[arg(long, value_delimiter = ',')]
    signalling: Option<Vec<usize>>,
    /// memory: seconds media keeps flowing after the first measurement before
    /// the second (default: 30 full / 0 quick).
    #[arg(long)]
    hold: Option<u64>,
}

/// One measured part of the report.
pub struct Section {
    pub key: &'static str,
    pub title: String,
    pub text: String,
    pub table: Table,
    /// Set when something failed outright (not a missed goal).
    pub gross_failure: Option<String>,
}

const ORDER: [&str; 6] = ["join", "recovery", "detection", "sfu", "memory", "scale"];
const KEEP_MARKER: &str = "<!-- hand-written below: kept when tether-bench rewrites this file -->";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let machine = Machine::read();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mode = if args.quick { "quick" } else { "full" };
    let dir = tether_tests::bins::target_dir()
        .join("tether-bench")
        .join(mode);
    std::fs::create_dir_all(&dir)?;
    let emitter = Emitter {
        dir: dir.clone(),
        machine: machine.clone(),
        command,
    };
    let sections = rt.block_on(run(&args, &emitter))?;
    let mut failures = Vec::new();
    for s in &sections {
        if let Some(f) = &s.gross_failure {
            failures.push(format!("{}: {f}", s.key));
        }
    }
    let report = compose(&dir, &machine)?;
    let out = if args.quick {
        dir.parent().unwrap_or(&dir).join("BENCHMARKS.quick.md")
    } else {
        args.out
            .clone()
            .unwrap_or_else(|| repo_root().join("BENCHMARKS.md"))
    };
    let kept = std::fs::read_to_string(&out)
        .ok()
        .and_then(|old| old.find(KEEP_MARKER).map(|i| old[i..].to_owned()))
        .unwrap_or_else(|| format!("{KEEP_MARKER}\n"));
    std::fs::write(&out, format!("{report}\n{kept}"))?;
    eprintln!(
        "\ntether-bench {mode}: {} section(s) in {:.0} s; report: {}",
        sections.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!("GROSS FAILURE {f}");
        }
        anyhow::bail!("{} gross failure(s)", failures.len())
    }
}

/// Prints each section as soon as it is measured and keeps it under target/.
struct Emitter {
    dir: PathBuf,
    machine: Machine,
    command: String,
}

impl Emitter {
    fn emit(&self, s: &Section) -> anyhow::Result<()> {
        let m = &self.machine;
        // Other work on the machine skews latency figures: say how busy it was.
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .unwrap_or_else(|| "?".into());
        let md = format!(
            "## {}\n\n_Measured {} on {} × {}, {} memory, tether-bench {} build, commit {}, \
             5-minute load average {load} at the end; reproduce with `{}`._\n\n{}\n\n{}",
            s.title,
            m.date,
            m.nproc,
            m.model,
            m.memory,
            m.profile,
            m.commit,
            reproduce(&self.command, s.key),
            s.text,
            s.table.markdown()
        );
        println!("\n{md}");
        std::fs::write(self.dir.join(format!("{}.md", s.key)), &md)?;
        Ok(())
    }
}

fn reproduce(command: &str, key: &str) -> String {
    let what = if key == "detection" { "recovery" } else { key };
    let quick = command.contains("--quick");
    let release = !cfg!(debug_assertions);
    format!(
        "cargo build{r} -p tether-server -p tether-bench && sudo target/{p}/tether-bench {what}{q}",
        r = if release { " --release" } else { "" },
        p = if release { "release" } else { "debug" },
        q = if quick { " --quick" } else { "" }
    )
}

/// The measured part of the report: every section file of this mode.
fn compose(dir: &Path, machine: &Machine) -> anyhow::Result<String> {
    let mut md = String::from(
        "# Benchmarks\n\n\
         Every figure here is produced by `tether-bench` (crates/tether-bench) and is p50 / p95 / \
         max over N runs unless a table says otherwise. Each section says how it was measured, \
         when, on what, and the exact command that reproduces it. Rebuild everything with:\n\n\
         ```sh\n\
         cargo build --release -p tether-server -p tether-bench\n\
         sudo target/release/tether-bench all      # ~40 min; root for network namespaces\n\
         ```\n\n\
         `--quick` (what CI runs after the tests, < 2 min, debug build) writes \
         `target/tether-bench/BENCHMARKS.quick.md` instead of this file. A figure that misses \
         its goal is reported as MISSED with what limits it (end of this file).\n\n",
    );
    md.push_str("Machine of the latest run:\n\n");
    md.push_str(&machine.markdown());
    for key in ORDER {
        if let Ok(s) = std::fs::read_to_string(dir.join(format!("{key}.md"))) {
            md.push('\n');
            md.push_str(&s);
        }
    }
    Ok(md)
}

async fn run(args: &Args, emitter: &Emitter) -> anyhow::Result<Vec<Section>> {
    let q = args.quick;
    let all = args.what == What::All;
    let mut out = Vec::new();
    let mut keep = |sections: Vec<Section>| -> anyhow::Result<()> {
        for s in sections {
            emitter.emit(&s)?;
            out.push(s);
        }
        Ok(())
    };
    if all || args.what == What::Join {
        keep(vec![
            join::run(args.runs.unwrap_or(if q { 5 } else { 20 })).await?,
        ])?;
    }
    if all || args.what == What::Recovery {
        let opts = recovery::Opts {
            outages: if q { vec![2] } else { vec![2, 5, 15, 30] },
            runs: args.runs.unwrap_or(if q { 2 } else { 5 }),
            detect_runs: if q { 1 } else { 10 },
        };
        keep(recovery::run(&opts).await?)?;
    }
    if all || args.what == What::Sfu {
        let opts = if q {
            sfu::Opts {
                audio_publishers: 2,
                audio_steps: vec![2, 4],
                video_publishers: 1,
                video_steps: vec![2],
                window: Duration::from_secs(2),
            }
        } else {
            sfu::Opts {
                audio_publishers: 10,
                audio_steps: vec![10, 20, 40, 80, 120, 160, 200],
                video_publishers: 4,
                video_steps: vec![10, 20, 40, 80, 120, 160],
                window: Duration::from_secs(5),
            }
        };
        keep(vec![sfu::run(&opts).await?])?;
    }
    if all || args.what == What::Memory {
        let mut opts = if q {
            memory::Opts {
                signalling: vec![50],
                media: vec![5],
                channel_size: 5,
                hold: Duration::ZERO,
            }
        } else {
            memory::Opts {
                signalling: vec![100, 500, 1000],
                media: vec![100, 200],
                channel_size: 5,
                hold: Duration::from_secs(30),
            }
        };
        if let Some(m) = &args.media {
            opts.media = m.clone();
        }
        if let Some(s) = &args.signalling {
            opts.signalling = s.clone();
        }
        if let Some(h) = args.hold {
            opts.hold = Duration::from_secs(h);
        }
        keep(vec![memory::run(&opts).await?])?;
    }
    if all || args.what == What::Scale {
        let opts = if q {
            scale::Opts {
                sizes: vec![1, 10, 50],
                probes: 3,
            }
        } else {
            scale::Opts {
                sizes: vec![1, 10, 25, 50, 100, 200],
                probes: 10,
            }
        };
        keep(vec![scale::run(&opts).await?])?;
    }
    Ok(out)
}
