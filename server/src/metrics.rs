//! What an operator graphs: the server's counters, gauges and latency histograms, written in Prometheus text format at `GET /metrics`.

use std::time::Duration;

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// Why the server turned a client or a message away.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Refusal {
    /// No, bad, expired or revoked credentials; a cookie from another origin.
    Auth,
    /// A change from someone whose role does not allow it.
    Role,
    /// A change whose author is not the person who sent it.
    ForgedAuthor,
    /// Too many messages, connections or failed sign-ins.
    Rate,
    /// A message over the size limit.
    Size,
    /// A frame or message that is not the protocol.
    Malformed,
}

impl Refusal {
    /// The label value: `auth`, `role`, `forged_author`, `rate`, `size`, `malformed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Auth => "auth",
            Refusal::Role => "role",
            Refusal::ForgedAuthor => "forged_author",
            Refusal::Rate => "rate",
            Refusal::Size => "size",
            Refusal::Malformed => "malformed",
        }
    }
}

impl EncodeLabelValue for Refusal {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: Refusal,
}

/// Every metric of one server. Cheap to update from any thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections: Gauge,
    open_documents: Gauge,
    resident: Gauge,
    changes_received: Counter,
    changes_stored: Counter,
    changes_relayed: Counter,
    messages_sent: Counter,
    commit_seconds: Histogram,
    delivery_seconds: Histogram,
    refusals: Family<RefusalLabels, Counter>,
    sign_ins_failed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("duet");
        let connections = Gauge::default();
        let open_documents = Gauge::default();
        let resident = Gauge::default();
        let changes_received = Counter::default();
        let changes_stored = Counter::default();
        let changes_relayed = Counter::default();
        let messages_sent = Counter::default();
        // 0.1 ms … ~3.3 s: an fsync on a quiet SSD to a stalled disk.
        let commit_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 16));
        // 0.5 ms … ~16 s: a keystroke relayed at once to a peer held up behind a big load.
        let delivery_seconds = Histogram::new(exponential_buckets(0.000_5, 2.0, 16));
        let refusals = Family::<RefusalLabels, Counter>::default();
        let sign_ins_failed = Counter::default();
        registry.register(
            "connections",
            "Open websocket connections",
            connections.clone(),
        );
        registry.register(
            "open_documents",
            "Documents loaded in memory (someone is connected, or was recently)",
            open_documents.clone(),
        );
        registry.register_with_unit(
            "resident_memory",
            "Resident set size of the server process",
            Unit::Bytes,
            resident.clone(),
        );
        registry.register(
            "changes_received",
            "New changes accepted from peers",
            changes_received.clone(),
        );
        registry.register(
            "changes_stored",
            "Changes made durable on disk",
            changes_stored.clone(),
        );
        registry.register(
            "changes_relayed",
            "Changes sent to peers in sync messages",
            changes_relayed.clone(),
        );
        registry.register(
            "messages_sent",
            "Protocol messages handed to peers' connections",
            messages_sent.clone(),
        );
        registry.register_with_unit(
            "storage_commit",
            "Time to write and fsync one group of writes",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        registry.register_with_unit(
            "delivery",
            "From a batch of peers' messages reaching its document to the answers and relays \
             being handed to their connections (storage included)",
            Unit::Seconds,
            delivery_seconds.clone(),
        );
        registry.register(
            "refusals",
            "Clients or messages turned away, by reason",
            refusals.clone(),
        );
        registry.register(
            "sign_ins_failed",
            "Sign-ins with a wrong username or password",
            sign_ins_failed.clone(),
        );
        Metrics {
            registry,
            connections,
            open_documents,
            resident,
            changes_received,
            changes_stored,
            changes_relayed,
            messages_sent,
            commit_seconds,
            delivery_seconds,
            refusals,
            sign_ins_failed,
        }
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
    }

    pub fn connection_closed(&self) {
        self.connections.dec();
    }

    pub fn refused(&self, reason: Refusal) {
        self.refusals.get_or_create(&RefusalLabels { reason }).inc();
    }

    pub fn sign_in_failed(&self) {
        self.sign_ins_failed.inc();
    }

    pub fn received(&self, changes: u64) {
        self.changes_received.inc_by(changes);
    }

    pub fn stored(&self, changes: u64) {
        self.changes_stored.inc_by(changes);
    }

    pub fn relayed(&self, changes: u64) {
        self.changes_relayed.inc_by(changes);
    }

    pub fn sent(&self, messages: u64) {
        self.messages_sent.inc_by(messages);
    }

    pub fn committed(&self, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
    }

    pub fn delivered(&self, took: Duration) {
        self.delivery_seconds.observe(took.as_secs_f64());
    }

    /// The text a scrape answers; the gauges read at this moment are passed in.
    pub fn render(&self, open_documents: usize) -> String {
        self.open_documents
            .set(i64::try_from(open_documents).unwrap_or(i64::MAX));
        if let Some(bytes) = resident_bytes() {
            self.resident.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The process's resident set, from `VmRSS` in `/proc/self/status` (Linux; elsewhere the
/// gauge stays 0).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
