//! `tether join`: drive a client, print its events, leave cleanly.

use std::io::Write;
use std::time::Duration;

use thiserror::Error;
use tokio::time::sleep;

use tether_client::{
    Client, ClientConfig, ClientError, ConnectionState, EventRecord, Media, MediaOptions,
    PublishSource, SessionConfig, StateReason,
};
use tether_proto::ValidationError;

use crate::args::{JoinArgs, PublishArg, SubscribeArg};

#[derive(Debug, Error)]
pub enum RunError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("invalid --{0}: {1}")]
    BadSeconds(&'static str, f64),
    #[error("disconnected: {reason}{}", .message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Disconnected {
        reason: &'static str,
        message: Option<String>,
    },
    #[error("cannot read the token file {path}: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the client stopped unexpectedly")]
    Stopped,
}

fn seconds(name: &'static str, value: f64) -> Result<Duration, RunError> {
    Duration::try_from_secs_f64(value).map_err(|_| RunError::BadSeconds(name, value))
}

pub async fn join(args: JoinArgs) -> Result<(), RunError> {
    let uid = args.uid.unwrap_or_else(|| fastrand::u32(1..u32::MAX));
    let name = args.name.clone().unwrap_or_else(|| format!("user-{uid}"));
    let token = match &args.token_file {
        Some(path) => Some(read_token(path)?),
        None => args.token.clone(),
    };
    let mut session = SessionConfig::new(&args.channel, uid, &name)?
        .with_token(token.clone())
        .with_rng_seed(fastrand::u64(..));
    if let Some(secs) = args.give_up_after {
        session.timing.give_up_after = seconds("give-up-after", secs)?;
    }
    if let Some(ms) = args.keepalive_timeout_ms {
        session.timing.keepalive_timeout = Duration::from_millis(ms);
    }
    if let Some(secs) = args.join_timeout {
        session.timing.join_timeout = seconds("join-timeout", secs)?;
    }
    let duration = args
        .duration
        .map(|secs| seconds("duration", secs))
        .transpose()?;
    let mut config = ClientConfig::new(&args.server, session)?;
    config.network_hints = !args.no_network_hints;
    let source = match args.publish {
        Some(PublishArg::Synthetic) => Some(PublishSource::Synthetic),
        Some(PublishArg::Devices) => Some(PublishSource::Devices {
            audio_input: None,
            video_input: None,
            fallback_synthetic: args.fallback_synthetic,
        }),
        Some(PublishArg::None) | None => None,
    };
    let subscribe = args.subscribe == SubscribeArg::Auto;
    if source.is_some() || subscribe {
        config.media = Some(MediaOptions {
            source: source.clone().unwrap_or(PublishSource::Synthetic),
            subscribe,
            playback_device: None,
            video_sink: None,
            preview_sink: None,
        });
    }

    let (client, mut events) = Client::spawn(config);
    if source.is_some() {
        client.publish(Media {
            audio: true,
            video: true,
        })?;
    }
    client.join().await?;

    let mut stop = Box::pin(stop_signal());
    let until = async {
        match duration {
            Some(d) => sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    let mut leaving = false;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return Err(RunError::Stopped) };
                if args.media_stats || !matches!(event.record.event, EventRecord::MediaStats { .. }) {
                    print_line(&event.record);
                }
                if let (EventRecord::TokenPrivilegeWillExpire { .. }, Some(path)) =
                    (&event.record.event, &args.token_file)
                {
                    renew_from_file(&client, path, token.as_deref());
                }
                if let EventRecord::ConnectionStateChange {
                    cur_state: ConnectionState::Disconnected, reason, detail, ..
                } = &event.record.event {
                    return if *reason == StateReason::Leave {
                        Ok(())
                    } else {
                        Err(RunError::Disconnected {
                            reason: reason.as_str(),
                            message: detail.message.clone(),
                        })
                    };
                }
            }
            () = &mut stop, if !leaving => {
                leaving = true;
                client.leave()?;
            }
            () = &mut until, if !leaving => {
                leaving = true;
                client.leave()?;
            }
        }
    }
}

fn read_token(path: &std::path::Path) -> Result<String, RunError> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_owned())
        .map_err(|source| RunError::TokenFile {
            path: path.display().to_string(),
            source,
        })
}

fn renew_from_file(client: &Client, path: &std::path::Path, current: Option<&str>) {
    match read_token(path) {
        Ok(fresh) if Some(fresh.as_str()) != current && !fresh.is_empty() => {
            if client.renew_token(fresh).is_err() {
                tracing::warn!("client stopped before the token could be renewed");
            }
        }
        Ok(_) => tracing::warn!("token file unchanged; the token will expire"),
        Err(e) => tracing::warn!(error = %e, "token renewal failed"),
    }
}

fn print_line(record: &tether_client::Record) {
    let Ok(line) = serde_json::to_string(record) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not crash the client.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        tracing::debug!("stdout closed");
    }
}

#[cfg(unix)]
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(not(unix))]
async fn stop_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
