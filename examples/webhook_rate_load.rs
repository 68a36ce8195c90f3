//! Constant-rate (open-loop) load for the partner webhook, used by
//! `bench/webhook-load.sh` when `RATE` is set.
//!
//! wrk is a closed loop: each connection sends its next request when the last one is
//! answered, so at saturation the latency it reports is the queue that its own
//! connections build (Little's law: connections ÷ throughput), not what a request meets at
//! a given load. This generator sends at a fixed rate instead, spread over a fixed number
//! of keep-alive connections, and measures each request's latency from the moment it was
//! *scheduled*, not sent: a request held back behind a slow answer on its connection
//! counts its wait (no coordinated omission).
//!
//! Usage: `webhook_rate_load ADDR REQUESTS_TSV CONNECTIONS RATE SECONDS`. `ADDR` must be a
//! loopback address. Reads the `key_id \t signature \t body` lines that
//! `webhook_load_prep` writes and sends them in order, each once (the run is at most as
//! long as the file), so every request is a first report of fresh keys. Prints sent
//! requests, the achieved rate, status counts and latency percentiles.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long one request may take before the run reports it as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, tsv, connections, rate, seconds] = args.as_slice() else {
        return Err("usage: webhook_rate_load ADDR REQUESTS_TSV CONNECTIONS RATE SECONDS".into());
    };
    let addr: SocketAddr = addr.parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address").into());
    }
    let connections: usize = connections.parse()?;
    let rate: f64 = rate.parse()?;
    let seconds: f64 = seconds.parse()?;
    if connections == 0 || rate <= 0.0 || seconds <= 0.0 {
        return Err("CONNECTIONS, RATE and SECONDS must be positive".into());
    }
    let requests = load_requests(tsv, addr)?;
    let total = requests.len().min((rate * seconds) as usize);
    let requests = Arc::new(requests);

    // One worker thread: the daemon under test needs the machine's other cores.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let (samples, elapsed) = runtime.block_on(async move {
        let start = tokio::time::Instant::now() + Duration::from_millis(50);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let tasks: Vec<_> = (0..connections.min(total))
            .map(|first| {
                let requests = Arc::clone(&requests);
                tokio::spawn(async move {
                    run_connection(addr, &requests, first, connections, total, start, interval).await
                })
            })
            .collect();
        let mut samples = Vec::with_capacity(total);
        for task in tasks {
            match task.await {
                Ok(Ok(mut connection)) => samples.append(&mut connection),
                Ok(Err(err)) => eprintln!("connection failed: {err}"),
                Err(err) => eprintln!("connection task failed: {err}"),
            }
        }
        (samples, start.elapsed())
    });
    report(&samples, total, rate, connections, elapsed);
    Ok(())
}

/// One request's result: its status (0: no answer) and its latency from its scheduled time.
struct Sample {
    status: u16,
    latency: Duration,
}

/// Sends requests `first`, `first + step`, … each at `start + index × interval` (or at
/// once, if the connection is behind), on one keep-alive connection.
async fn run_connection(
    addr: SocketAddr,
    requests: &[Vec<u8>],
    first: usize,
    step: usize,
    total: usize,
    start: tokio::time::Instant,
    interval: Duration,
) -> std::io::Result<Vec<Sample>> {
    let mut stream = BufReader::new(TcpStream::connect(addr).await?);
    stream.get_ref().set_nodelay(true)?;
    let mut samples = Vec::with_capacity(total / step + 1);
    for index in (first..total).step_by(step) {
        let scheduled = start + interval * index as u32;
        tokio::time::sleep_until(scheduled).await;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, exchange(&mut stream, &requests[index])).await;
        let status = match answer {
            Ok(Ok(status)) => status,
            Ok(Err(err)) => return Err(err),
            Err(_) => return Err(std::io::Error::other("request timed out")),
        };
        samples.push(Sample { status, latency: scheduled.elapsed() });
    }
    Ok(samples)
}

/// Writes one request and reads its response (status line, headers, a `Content-Length`
/// body). Returns the status code.
async fn exchange(stream: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<u16> {
    stream.get_mut().write_all(request).await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status = line.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().map_err(std::io::Error::other)?;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}

/// The signed requests of `webhook_load_prep`'s TSV, as raw HTTP/1.1 bytes.
fn load_requests(path: &str, addr: SocketAddr) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut requests = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(key_id), Some(signature), Some(body)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("{path}: a line without three tab-separated fields").into());
        };
        let head = format!(
            "POST /github/secret-scanning HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Github-Public-Key-Identifier: {key_id}\r\nGithub-Public-Key-Signature: {signature}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        requests.push([head.as_bytes(), body.as_bytes()].concat());
    }
    Ok(requests)
}

fn report(samples: &[Sample], scheduled: usize, rate: f64, connections: usize, elapsed: Duration) {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort_unstable();
    let ok = samples.iter().filter(|s| s.status == 200).count();
    let quantile = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(index).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "open loop: {scheduled} requests scheduled at {rate:.0}/s over {connections} connections; \
         {} answered ({ok} with 200, {} other) in {:.2} s = {:.0} requests/s",
        samples.len(),
        samples.len() - ok,
        elapsed.as_secs_f64(),
        samples.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency from scheduled send: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
        quantile(0.50),
        quantile(0.90),
        quantile(0.99),
        quantile(0.999),
        quantile(1.0)
    );
}
