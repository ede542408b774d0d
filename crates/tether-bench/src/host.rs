//! A "host": one OS thread with its own single-threaded tokio runtime,
//! optionally moved into a network namespace first (`setns`). Everything
//! spawned on its [`Host::handle`] runs on that thread, so every socket it
//! opens (signalling, media, netlink) lives in that namespace. Threads it
//! starts (decode, encode) inherit the namespace too.

use std::future::Future;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context as _};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub struct Host {
    pub handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Host {
    /// A host in `netns` (a name under /run/netns), or in the bench's own
    /// namespace for `None`. `cpu`: pin the thread (and what it starts) to
    /// that core.
    pub fn new(name: &str, netns: Option<&str>, cpu: Option<usize>) -> anyhow::Result<Self> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let netns = netns.map(str::to_owned);
        let thread = std::thread::Builder::new()
            .name(format!("host-{name}"))
            .spawn(move || {
                let setup = (|| -> anyhow::Result<tokio::runtime::Runtime> {
                    if let Some(ns) = &netns {
                        let f = std::fs::File::open(format!("/run/netns/{ns}"))
                            .with_context(|| format!("open /run/netns/{ns}"))?;
                        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
                            .with_context(|| format!("setns into {ns}"))?;
                    }
                    if let Some(cpu) = cpu {
                        let mut set = nix::sched::CpuSet::new();
                        set.set(cpu).context("cpu set")?;
                        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                            .context("sched_setaffinity")?;
                    }
                    Ok(tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?)
                })();
                match setup {
                    Ok(rt) => {
                        let _sent = ready_tx.send(Ok(rt.handle().clone()));
                        rt.block_on(async {
                            let _stopped = stop_rx.await;
                        });
                        // Let closing connections say goodbye.
                        rt.shutdown_timeout(std::time::Duration::from_millis(500));
                    }
                    Err(e) => {
                        let _sent = ready_tx.send(Err(e));
                    }
                }
            })?;
        let handle = ready_rx
            .recv()
            .map_err(|_| anyhow!("host thread {name} died"))??;
        Ok(Self {
            handle,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Run `f` on the host's thread and wait for its result.
    pub async fn run<F, Fut, T>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.handle.spawn(async move {
            // `spawn_local`-free: the future is built on the host's thread.
            let _sent = tx.send(f().await);
        });
        rx.await.map_err(|_| anyhow!("host task died"))
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _sent = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _joined = t.join();
        }
    }
}
