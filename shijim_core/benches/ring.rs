//! Ring speed, each figure beside a baseline measured in the same run (JSON lines,
//! docs/contracts.md). Run: `cargo bench --bench ring`.
//!
//! - ring.publish.bidask: SBE BidAsk encoded straight into a slot (65536-slot ring, 16 MiB),
//!   baseline: the same encode into a stack buffer pushed onto a Vec (no shared memory).
//! - ring.publish.bytes64: a 64-byte payload, baseline: std::sync::mpsc send of the same bytes.
//! - ring.latency.cross_process: one-way latency writer process -> spinning reader process
//!   (CLOCK_MONOTONIC timestamp in the payload), baseline: the same over a pipe.
//!
//! Env: RING_BENCH_BATCHES, RING_BENCH_ITERS, RING_BENCH_LAT_SAMPLES (50000),
//! RING_BENCH_LAT_GAP_NS (100000: the writer sleeps between messages),
//! RING_BENCH_PIN (default 1 on machines with >= 2 CPUs: writer on CPU 0, reader on CPU 1, as a
//! trading host isolates its spinning readers; 0 lets the scheduler place them),
//! RING_BENCH_RT=1 (SCHED_FIFO for both).

mod harness;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::{env_usize, measure, sample_bidask, Figure};
use shijim_core::ring::{Next, RingReader, RingWriter, Start, MAX_PAYLOAD};
use shijim_core::sbe::{encode, Message, MAX_MESSAGE_LEN};

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn pin(cpu: usize) {
    if std::env::var("RING_BENCH_RT").as_deref() == Ok("1") {
        // SCHED_FIFO: other processes cannot preempt the reader (needs CAP_SYS_NICE; the
        // kernel's RT throttling still leaves 5% of each second to everyone else).
        let param = libc::sched_param { sched_priority: 10 };
        // SAFETY: plain syscall on this process with a valid sched_param.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        if rc != 0 {
            eprintln!("RING_BENCH_RT: {}", std::io::Error::last_os_error());
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin_default = if cpus >= 2 { "1" } else { "0" };
    let pin = std::env::var("RING_BENCH_PIN").unwrap_or_else(|_| pin_default.to_string());
    if pin != "1" {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET/sched_setaffinity only touch that set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn report_throughput(bench: &str, median: f64, samples: usize, baseline: (&str, f64)) {
    // Target: >= 30 M messages/s, i.e. <= 33.3 ns per message.
    Figure {
        bench,
        unit: "ns/msg",
        median,
        samples,
        baseline,
        target: Some("<= 33.3 ns (>= 30 M msg/s)"),
        pass: Some(median <= 1e9 / 30e6),
        extra: &[("msg_per_s", 1e9 / median)],
    }
    .print();
}

fn bench_path(tag: &str) -> PathBuf {
    let dir = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("shijim-ring-bench.{}.{tag}", std::process::id()))
}

fn throughput() {
    let batches = env_usize("RING_BENCH_BATCHES", 31);
    let iters = env_usize("RING_BENCH_ITERS", 1 << 20);
    let path = bench_path("tput");
    let _ = std::fs::remove_file(&path);
    let Ok(mut w) = RingWriter::open_path(&path, 1 << 16, true) else {
        eprintln!("cannot open ring {}", path.display());
        return;
    };

    let mut msg = Message::BidAsk(sample_bidask());
    let ring_bidask = measure(batches, iters, |i| {
        msg.set_seq(w.next_seq());
        if let Message::BidAsk(m) = &mut msg {
            m.exch_ts = i as i64;
        }
        let r = w.publish_with(|slot| encode(&msg, slot));
        black_box(r.is_ok());
    });
    let mut msg = Message::BidAsk(sample_bidask());
    let mut vec: Vec<[u8; 256]> = Vec::with_capacity(1 << 16);
    let vec_bidask = measure(batches, iters, |i| {
        if vec.len() == 1 << 16 {
            vec.clear();
        }
        msg.set_seq(i);
        let mut buf = [0u8; 256];
        let r = encode(&msg, &mut buf[..MAX_MESSAGE_LEN]);
        black_box(r.is_ok());
        vec.push(buf);
    });
    black_box(&vec);
    report_throughput(
        "ring.publish.bidask",
        ring_bidask,
        batches,
        (
            "SBE encode into a stack buffer + Vec push (no shared memory)",
            vec_bidask,
        ),
    );

    let payload = [7u8; 64];
    let ring_bytes = measure(batches, iters, |i| {
        let mut p = payload;
        p[..8].copy_from_slice(&i.to_le_bytes());
        black_box(w.publish(&p).is_ok());
    });
    let (tx, rx) = std::sync::mpsc::channel::<[u8; 64]>();
    let mpsc_bytes = measure(batches, iters, |i| {
        let mut p = payload;
        p[..8].copy_from_slice(&i.to_le_bytes());
        black_box(tx.send(p).is_ok());
        if i % 1024 == 1023 {
            while rx.try_recv().is_ok() {}
        }
    });
    report_throughput(
        "ring.publish.bytes64",
        ring_bytes,
        batches,
        (
            "std::sync::mpsc send of the same 64 bytes (same thread drains)",
            mpsc_bytes,
        ),
    );
    drop(w);
    let _ = std::fs::remove_file(&path);
}

/// Child side of the latency bench: spin on the ring (or read the pipe), print percentiles.
fn latency_reader(mode: &str, path: &str, samples: usize) {
    pin(1);
    let mut lat: Vec<u64> = Vec::with_capacity(samples);
    if mode == "ring" {
        let Ok(mut r) = RingReader::open_path(Path::new(path), Start::Latest) else {
            eprintln!("reader cannot open {path}");
            return;
        };
        println!("ready");
        let _ = std::io::stdout().flush();
        let mut buf = [0u8; MAX_PAYLOAD];
        while lat.len() < samples {
            if let Next::Message { len, .. } = r.try_next(&mut buf) {
                let now = now_ns();
                if len >= 8 {
                    let mut ts = [0u8; 8];
                    ts.copy_from_slice(&buf[..8]);
                    lat.push(now.saturating_sub(u64::from_le_bytes(ts)));
                }
            } else {
                std::hint::spin_loop();
            }
        }
    } else {
        println!("ready");
        let _ = std::io::stdout().flush();
        let mut stdin = std::io::stdin().lock();
        let mut ts = [0u8; 8];
        while lat.len() < samples && stdin.read_exact(&mut ts).is_ok() {
            lat.push(now_ns().saturating_sub(u64::from_le_bytes(ts)));
        }
    }
    lat.sort_unstable();
    let q = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{} {} {} {} {} {}",
        lat.len(),
        q(0.5),
        q(0.99),
        q(0.999),
        q(0.0),
        q(0.1)
    );
}

/// Wait until `deadline` (ns, CLOCK_MONOTONIC): paces the writer so every message is a fresh
/// one-way trip, not a queue behind its predecessors. Long gaps sleep, so that on a small
/// machine the writer does not take the core the spinning reader needs.
fn wait_until(deadline: u64) {
    let now = now_ns();
    if deadline > now + 60_000 {
        std::thread::sleep(std::time::Duration::from_nanos(deadline - now - 60_000));
    }
    while now_ns() < deadline {
        std::hint::spin_loop();
    }
}

fn run_latency(mode: &str, path: &Path, samples: usize, gap_ns: u64) -> Option<[u64; 6]> {
    let exe = std::env::current_exe().ok()?;
    let mut child = Command::new(exe)
        .args([
            "--latency-reader",
            mode,
            &path.display().to_string(),
            &samples.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut out = BufReader::new(child.stdout.take()?);
    let mut line = String::new();
    out.read_line(&mut line).ok()?; // "ready"
    let mut w = if mode == "ring" {
        RingWriter::open_path(path, 1 << 16, false).ok()
    } else {
        None
    };
    let mut stdin = child.stdin.take()?;
    pin(0);
    // A few extra messages: the reader stops after `samples`.
    let mut next = now_ns() + 1_000_000;
    for _ in 0..samples + 16 {
        wait_until(next);
        next = next.max(now_ns()) + gap_ns;
        let ts = now_ns().to_le_bytes();
        match w.as_mut() {
            Some(w) => {
                let mut p = [0u8; 64];
                p[..8].copy_from_slice(&ts);
                w.publish(&p).ok()?;
            }
            None => {
                if stdin.write_all(&ts).is_err() {
                    break;
                }
            }
        }
    }
    drop(stdin);
    line.clear();
    out.read_line(&mut line).ok()?;
    let _ = child.wait();
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.len() == 6).then(|| [v[0], v[1], v[2], v[3], v[4], v[5]])
}

fn latency() {
    let samples = env_usize("RING_BENCH_LAT_SAMPLES", 50_000);
    let gap_ns = env_usize("RING_BENCH_LAT_GAP_NS", 100_000) as u64;
    let path = bench_path("lat");
    let _ = std::fs::remove_file(&path);
    // The file must exist before the reader attaches; the bench writer re-opens it (create=false).
    match RingWriter::open_path(&path, 1 << 16, true) {
        Ok(w) => drop(w),
        Err(e) => {
            eprintln!("cannot create ring: {e}");
            return;
        }
    }
    let ring = run_latency("ring", &path, samples, gap_ns);
    let pipe = run_latency("pipe", &path, samples, gap_ns);
    let _ = std::fs::remove_file(&path);
    let (Some([n, p50, p99, p999, min, p10]), Some([_, b50, b99, _, _, _])) = (ring, pipe) else {
        eprintln!("latency run failed");
        return;
    };
    Figure {
        bench: "ring.latency.cross_process",
        unit: "ns",
        median: p50 as f64,
        samples: n as usize,
        baseline: ("pipe one-way (same pacing)", b50.max(1) as f64),
        target: Some("p50 <= 1000 ns, p99 <= 10000 ns"),
        pass: Some(p50 <= 1_000 && p99 <= 10_000),
        extra: &[
            ("p99", p99 as f64),
            ("p99_9", p999 as f64),
            ("min", min as f64),
            ("p10", p10 as f64),
            ("baseline_p99", b99 as f64),
        ],
    }
    .print();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--latency-reader") {
        let get = |k: usize| args.get(i + k).cloned().unwrap_or_default();
        latency_reader(&get(1), &get(2), get(3).parse().unwrap_or(0));
        return;
    }
    throughput();
    latency();
}
