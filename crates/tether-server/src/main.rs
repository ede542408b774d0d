//! `tether-server`: a thin command-line wrapper around the library.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Some(Command::Token(args)) => match args.issue() {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        None => serve(&cli.serve),
    }
}

/// Every connection is a file descriptor (and each call's media a few
/// more): raise the soft limit (often 1024) to the hard one, and say so
/// when that is still below what the connection cap needs.
#[cfg(unix)]
fn raise_fd_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!(open_files = limit, "file descriptor limit");
            if limit < max_connections as u64 {
                tracing::warn!(
                    open_files = limit,
                    max_connections,
                    "the file descriptor limit is below the connection cap; raise it (ulimit -n)"
                );
            }
        }
        Err(e) => tracing::warn!("cannot raise the file descriptor limit: {e}"),
    }
}

#[cfg(not(unix))]
fn raise_fd_limit(_max_connections: usize) {}

fn fail(message: &str) -> ExitCode {
    eprintln!("tether-server: error: {message}");
    ExitCode::FAILURE
}

fn serve(args: &cli::ServeArgs) -> ExitCode {
    let config = match args.to_config() {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };
    raise_fd_limit(config.max_connections);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        let server = match tether_server::Server::bind(config).await {
            Ok(server) => server,
            Err(e) => return fail(&e.to_string()),
        };
        let mut stdout = std::io::stdout().lock();
        let printed = writeln!(stdout, "listening on ws://{}", server.local_addr())
            .and_then(|()| stdout.flush());
        drop(stdout);
        if let Err(e) = printed {
            return fail(&format!("cannot write to stdout: {e}"));
        }
        server.run(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("signal received; shutting down");
}
