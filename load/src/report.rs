//! The figures of one run: latency percentiles, counts, drain, convergence, RSS and CPU; as JSON and as a Markdown table row.

use std::time::Duration;

use serde::Serialize;

use crate::{Config, PeerReport, ProcStat, ServerKind};

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of samples in microseconds.
    pub fn of(mut samples_us: Vec<u64>) -> Percentiles {
        if samples_us.is_empty() {
            return Percentiles::default();
        }
        samples_us.sort_unstable();
        let n = samples_us.len();
        let at = |q: f64| {
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            samples_us[rank - 1] as f64 / 1000.0
        };
        Percentiles {
            count: n,
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: samples_us[n - 1] as f64 / 1000.0,
        }
    }
}

/// What every simulated user of a run measured, added up.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub sent: u64,
    pub received: u64,
    pub expected: u64,
    pub unacked: u64,
    /// Propagation latency of every delivery, µs.
    pub latencies_us: Vec<u64>,
    /// Time from each edit to the server's acknowledgement, µs.
    pub acks_us: Vec<u64>,
    /// The longest drain after typing stopped.
    pub drain: Duration,
    /// Every user received everything within the drain limit.
    pub drained: bool,
}

impl Totals {
    /// Adds up peers' reports: (deliveries expected, drained in time, drain time, report).
    pub fn of_peers(peers: Vec<(u64, bool, Duration, PeerReport)>) -> Totals {
        let mut t = Totals {
            drained: true,
            ..Totals::default()
        };
        for (expected, drained, drain, r) in peers {
            t.sent += r.sent;
            t.received += r.received;
            t.expected += expected;
            t.unacked += r.unacked;
            t.drained &= drained;
            t.drain = t.drain.max(drain);
            t.latencies_us.extend_from_slice(&r.latencies_us);
            t.acks_us.extend_from_slice(&r.acks_us);
        }
        t
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub server: ServerKind,
    pub users: u32,
    pub specs: u32,
    pub rate_per_user: f64,
    pub duration_s: f64,
    pub history: u32,
    /// Timed edits made.
    pub sent: u64,
    /// Deliveries seen (one per edit per other user of the same spec).
    pub received: u64,
    pub expected: u64,
    /// Edit → other user's receipt.
    pub latency: Percentiles,
    /// Edit sent → the server's reply shows it holds it (Duet: durable, it replies after
    /// fsync; see `ack_meaning` for the others).
    pub durable_ack: Percentiles,
    pub ack_meaning: &'static str,
    /// Own edits never acknowledged.
    pub unacked: u64,
    /// Time from the end of typing until the last peer had everything (or gave up).
    pub drain_ms: f64,
    /// Every peer received everything within the drain limit.
    pub drained: bool,
    /// Every replica and a fresh reader of each spec ended on the same heads.
    pub converged: bool,
    /// Server CPU time during typing and drain, ms, and per 1,000 deliveries.
    pub server_cpu_ms: Option<u64>,
    pub server_cpu_ms_per_1000: Option<f64>,
    /// Server memory at the end, MiB.
    pub server_rss_mib: Option<f64>,
    pub server_peak_rss_mib: Option<f64>,
    /// This load generator's own CPU time, ms (if near cores × wall, the harness is the bottleneck).
    pub load_cpu_ms: Option<u64>,
    pub wall_ms: f64,
    /// Deliveries per second over typing and drain.
    pub delivered_per_s: f64,
}

impl Report {
    pub fn build(
        config: &Config,
        totals: Totals,
        converged: bool,
        wall: Duration,
        server: (Option<ProcStat>, Option<ProcStat>),
        load: (Option<ProcStat>, Option<ProcStat>),
    ) -> Report {
        let Totals {
            sent,
            received,
            expected,
            unacked,
            latencies_us,
            acks_us,
            drain,
            drained,
        } = totals;
        let cpu = |(before, after): (Option<ProcStat>, Option<ProcStat>)| {
            Some(after?.cpu_ms.saturating_sub(before?.cpu_ms))
        };
        let server_cpu_ms = cpu(server);
        let mib = |kib: u64| kib as f64 / 1024.0;
        Report {
            server: config.server,
            users: config.users,
            specs: config.specs,
            rate_per_user: config.rate,
            duration_s: config.duration.as_secs_f64(),
            history: config.history,
            sent,
            received,
            expected,
            latency: Percentiles::of(latencies_us),
            durable_ack: Percentiles::of(acks_us),
            ack_meaning: config.server.ack_meaning(),
            unacked,
            drain_ms: drain.as_secs_f64() * 1000.0,
            drained,
            converged,
            server_cpu_ms,
            server_cpu_ms_per_1000: server_cpu_ms
                .filter(|_| received > 0)
                .map(|ms| ms as f64 * 1000.0 / received as f64),
            server_rss_mib: server.1.map(|s| mib(s.rss_kib)),
            server_peak_rss_mib: server.1.map(|s| mib(s.peak_rss_kib)),
            load_cpu_ms: cpu(load),
            wall_ms: wall.as_secs_f64() * 1000.0,
            delivered_per_s: received as f64 / wall.as_secs_f64().max(1e-9),
        }
    }

    /// Whether the run delivered everything and converged.
    pub fn ok(&self) -> bool {
        self.drained && self.converged && self.received == self.expected && self.unacked == 0
    }

    pub const MARKDOWN_HEADER: &'static str = "| server | users×specs | history | edits sent | delivered / expected | p50 ms | p95 ms | p99 ms | max ms | ack p50 / p99 ms | drain ms | converged | server CPU ms / 1k deliveries | server RSS MiB | load-gen CPU ms |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

    /// One Markdown table row (see `MARKDOWN_HEADER`).
    pub fn markdown_row(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1}"));
        format!(
            "| {} | {}×{} | {} | {} | {} / {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} | {:.0} | {} | {} | {} | {} |",
            self.server,
            self.users,
            self.specs,
            self.history,
            self.sent,
            self.received,
            self.expected,
            self.latency.p50_ms,
            self.latency.p95_ms,
            self.latency.p99_ms,
            self.latency.max_ms,
            self.durable_ack.p50_ms,
            self.durable_ack.p99_ms,
            self.drain_ms,
            if self.converged { "yes" } else { "NO" },
            opt(self.server_cpu_ms_per_1000),
            opt(self.server_rss_mib),
            self.load_cpu_ms.map_or("–".to_owned(), |v| v.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Percentiles;

    #[test]
    fn percentiles_use_nearest_rank() {
        let p = Percentiles::of((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!(
            (p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(vec![]).count, 0);
        assert_eq!(Percentiles::of(vec![7_500]).p99_ms, 7.5);
    }
}
