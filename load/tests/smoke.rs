//! Smoke runs of duet-load (2 users × 1 spec, two seconds) against an in-process Duet server and the two Node reference servers, so the tool cannot rot.

use std::time::Duration;

use duet_load::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_two_user_run_delivers_every_edit_and_converges() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(duet_server::run(
        listener,
        duet_server::Config::new(data.path()),
        async move {
            let _ = stopped.await;
        },
    ));
    let config = Config {
        url: format!("ws://{addr}/sync"),
        users: 2,
        specs: 1,
        rate: 10.0,
        duration: Duration::from_secs(2),
        history: 200,
        drain_limit: Duration::from_secs(20),
        server_pid: Some(std::process::id()),
        server: duet_load::ServerKind::Duet,
    };
    let report = duet_load::run(&config).await?;
    assert!(report.sent >= 20, "{report:?}");
    assert_eq!(report.received, report.expected, "{report:?}");
    assert_eq!(
        report.expected, report.sent,
        "two users: each edit has one receiver"
    );
    assert_eq!(report.latency.count as u64, report.received);
    assert_eq!(report.durable_ack.count as u64, report.sent);
    assert!(report.ok(), "{report:?}");
    assert!(report.server_rss_mib.is_some_and(|m| m > 0.0));
    let _ = stop.send(());
    server.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_short_run_works_against_the_automerge_repo_server_and_hocuspocus(
) -> anyhow::Result<()> {
    use duet_load::spawn::{node_folder, spawn, Programs};
    use duet_load::ServerKind;
    let programs = Programs {
        duet: std::path::PathBuf::new(),
        node: node_folder()?,
    };
    for server in [ServerKind::AutomergeRepo, ServerKind::Hocuspocus] {
        let spawned = spawn(server, &programs)?;
        let config = Config {
            url: spawned.url.clone(),
            users: 2,
            specs: 1,
            rate: 10.0,
            duration: Duration::from_secs(2),
            history: 100,
            drain_limit: Duration::from_secs(20),
            server_pid: Some(spawned.child.id()),
            server,
        };
        let report = match server {
            ServerKind::Hocuspocus => duet_load::hocuspocus::run(&config, &programs.node).await?,
            _ => duet_load::run(&config).await?,
        };
        assert!(report.sent >= 20, "{server}: {report:?}");
        assert_eq!(report.expected, report.sent, "{server}: {report:?}");
        assert_eq!(report.latency.count as u64, report.received, "{server}");
        assert_eq!(report.durable_ack.count as u64, report.sent, "{server}");
        assert!(report.ok(), "{server}: {report:?}");
        assert!(
            report.server_cpu_ms.is_some() && report.load_cpu_ms.is_some(),
            "{server}: {report:?}"
        );
    }
    Ok(())
}
