//! Prometheus metrics in the text exposition format (hand-written: a few
//! counters, gauges and one histogram).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the evaluation-time histogram buckets.
const BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The server's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    evaluations: AtomicU64,
    evaluation_micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    sessions_opened: AtomicU64,
    responses_streamed: AtomicU64,
}

/// Gauges read at render time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    /// Open sessions.
    pub sessions: usize,
    /// Memory held by sessions' keys (as parsed), in bytes.
    pub session_bytes: usize,
    /// Evaluations running.
    pub evaluations_in_flight: usize,
    /// Sessions evicted so far (a counter kept by the session store).
    pub sessions_evicted_total: u64,
    /// Sessions expired so far (a counter kept by the session store).
    pub sessions_expired_total: u64,
}

impl Metrics {
    /// Counts one answered request (`endpoint` is a route pattern, never a
    /// raw path, so session ids stay out of the labels).
    pub(crate) fn request(&self, endpoint: &'static str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((endpoint, status)).or_default() += 1;
        }
    }

    /// Counts a refused request by reason (an error code).
    pub(crate) fn rejection(&self, reason: &'static str) {
        if let Ok(mut m) = self.rejections.lock() {
            *m.entry(reason).or_default() += 1;
        }
    }

    /// Adds request body bytes received.
    pub(crate) fn bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Adds response body bytes sent.
    pub(crate) fn bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Records one finished evaluation.
    pub(crate) fn evaluation(&self, took: Duration) {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        self.evaluation_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let s = took.as_secs_f64();
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            if s <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts an opened session.
    pub(crate) fn session_opened(&self) {
        self.sessions_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an evaluate response sent streamed.
    pub(crate) fn response_streamed(&self) {
        self.responses_streamed.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self, g: Gauges) -> String {
        let mut o = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "# HELP cryptotl_requests_total HTTP requests answered, by endpoint and status.\n\
             # TYPE cryptotl_requests_total counter"
        );
        if let Ok(m) = self.requests.lock() {
            for ((endpoint, status), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "cryptotl_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP cryptotl_rejections_total Requests refused, by reason.\n\
             # TYPE cryptotl_rejections_total counter"
        );
        if let Ok(m) = self.rejections.lock() {
            for (reason, n) in m.iter() {
                let _ = writeln!(o, "cryptotl_rejections_total{{reason=\"{reason}\"}} {n}");
            }
        }
        let counters = [
            (
                "cryptotl_request_bytes_total",
                "Request body bytes received.",
                get(&self.bytes_in),
            ),
            (
                "cryptotl_response_bytes_total",
                "Response body bytes sent.",
                get(&self.bytes_out),
            ),
            (
                "cryptotl_responses_streamed_total",
                "Evaluate responses streamed ciphertext by ciphertext.",
                get(&self.responses_streamed),
            ),
            (
                "cryptotl_sessions_opened_total",
                "Sessions opened.",
                get(&self.sessions_opened),
            ),
            (
                "cryptotl_sessions_evicted_total",
                "Sessions evicted by the memory or count cap.",
                g.sessions_evicted_total,
            ),
            (
                "cryptotl_sessions_expired_total",
                "Sessions expired after their idle TTL.",
                g.sessions_expired_total,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        let gauges = [
            ("cryptotl_sessions", "Open sessions.", g.sessions),
            (
                "cryptotl_session_key_bytes",
                "Memory held by open sessions' evaluation keys (as parsed), in bytes.",
                g.session_bytes,
            ),
            (
                "cryptotl_evaluations_in_flight",
                "Evaluations running now.",
                g.evaluations_in_flight,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let name = "cryptotl_evaluation_seconds";
        let _ = writeln!(
            o,
            "# HELP {name} Time spent evaluating batches.\n# TYPE {name} histogram"
        );
        for (b, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(o, "{name}_bucket{{le=\"{bound}\"}} {}", get(b));
        }
        let count = get(&self.evaluations);
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            o,
            "{name}_sum {}",
            get(&self.evaluation_micros) as f64 / 1e6
        );
        let _ = writeln!(o, "{name}_count {count}");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.request("/v1/model", 200);
        m.request("/v1/model", 200);
        m.rejection("server_busy");
        m.evaluation(Duration::from_millis(300));
        m.bytes_in(10);
        let text = m.render(Gauges {
            sessions: 3,
            ..Gauges::default()
        });
        assert!(text.contains("cryptotl_requests_total{endpoint=\"/v1/model\",status=\"200\"} 2"));
        assert!(text.contains("cryptotl_rejections_total{reason=\"server_busy\"} 1"));
        assert!(text.contains("cryptotl_evaluation_seconds_bucket{le=\"0.25\"} 0"));
        assert!(text.contains("cryptotl_evaluation_seconds_bucket{le=\"0.5\"} 1"));
        assert!(text.contains("cryptotl_evaluation_seconds_count 1"));
        assert!(text.contains("cryptotl_sessions 3"));
        assert!(text.contains("cryptotl_request_bytes_total 10"));
    }
}
