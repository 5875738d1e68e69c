//! Prometheus metrics: request latency per route (recorded by [`observe_requests`], which also
//! writes the structured access log) and the build queue, read from the database at scrape time
//! so that every process and worker is counted.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::datalabs::BuildStatus;
use crate::storage::Database;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request latencies by method, route template and status.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut requests = self
            .requests
            .lock()
            .expect("metrics lock is never poisoned");
        let histogram = requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    fn render_requests(&self, out: &mut String) {
        let requests = self
            .requests
            .lock()
            .expect("metrics lock is never poisoned");
        out.push_str(
            "# HELP labforge_http_request_duration_seconds Time to answer an HTTP request.\n\
             # TYPE labforge_http_request_duration_seconds histogram\n",
        );
        for ((method, route, status), histogram) in requests.iter() {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape_label(route)
            );
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                let _ = writeln!(
                    out,
                    "labforge_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "labforge_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 labforge_http_request_duration_seconds_sum{{{labels}}} {}\n\
                 labforge_http_request_duration_seconds_count{{{labels}}} {}",
                histogram.count, histogram.sum, histogram.count
            );
        }
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Middleware: times each request, logs it as one structured event and records the latency.
pub async fn observe_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    // The route template keeps the label set small (`/api/datalabs/{name}`, not every name).
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    metrics.observe(&method, &route, status, seconds);
    tracing::info!(
        target: "labforge::access",
        %method,
        %path,
        %route,
        status,
        milliseconds = seconds * 1000.0,
        "request"
    );
    response
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(
    State(database): State<Database>,
    State(metrics): State<Arc<Metrics>>,
) -> Result<Response, ApiError> {
    let mut out = String::new();
    let counts = database.build_counts_by_status().await?;
    out.push_str("# HELP labforge_builds Builds by status.\n# TYPE labforge_builds gauge\n");
    let count_of = |status| {
        counts
            .iter()
            .find(|(counted, _)| *counted == status)
            .map_or(0, |(_, count)| *count)
    };
    for &status in BuildStatus::ALL {
        let _ = writeln!(
            out,
            "labforge_builds{{status=\"{status}\"}} {}",
            count_of(status)
        );
    }
    let queued = count_of(BuildStatus::Queued);
    let _ = writeln!(
        out,
        "# HELP labforge_build_queue_length Builds waiting for a worker.\n\
         # TYPE labforge_build_queue_length gauge\nlabforge_build_queue_length {queued}"
    );
    metrics.render_requests(&mut out);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let metrics = Metrics::default();
        metrics.observe("GET", "/api/datalabs", 200, 0.003);
        metrics.observe("GET", "/api/datalabs", 200, 0.2);
        let mut out = String::new();
        metrics.render_requests(&mut out);
        assert!(out.contains(
            "labforge_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/datalabs\",status=\"200\",le=\"0.005\"} 1"
        ), "{out}");
        assert!(out.contains(
            "labforge_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/datalabs\",status=\"200\",le=\"0.25\"} 2"
        ), "{out}");
        assert!(out.contains("_count{method=\"GET\",route=\"/api/datalabs\",status=\"200\"} 2"));
    }
}
