//! Inner loops of a collection: /proc parsers and the artifact pipeline.
//! Run with `cargo bench -p vestige --bench inner_loops`.

// A benchmark harness, not shipped code: failing loudly is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use vestige::pipeline::{ArtifactWriter, Compression, RecordWriter};
use vestige::procfs::{maps, net, stat::Stat, status::Status};
use vestige::sink::dir::DirSink;

fn maps_text(lines: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..lines {
        let start = 0x7f00_0000_0000u64 + (i as u64) * 0x1000;
        s.push_str(&format!(
            "{start:x}-{:x} r-xp 00000000 fd:01 {} /usr/lib/x86_64-linux-gnu/libexample-{i}.so.1\n",
            start + 0x1000,
            1000 + i
        ));
    }
    s.into_bytes()
}

fn parsers(c: &mut Criterion) {
    let stat = b"1234 (bash) S 1000 1234 1234 34816 5678 4194304 2000 30000 0 3 10 5 40 20 20 0 1 0 98765 12345678 1500 18446744073709551615 1 1 0 0 0 0 65536 3670020 1266777851 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
    c.bench_function("stat_parse", |b| b.iter(|| Stat::parse(black_box(stat))));
    let status = std::fs::read("/proc/self/status").unwrap_or_default();
    c.bench_function("status_parse", |b| {
        b.iter(|| Status::parse(black_box(&status)))
    });
    let m = maps_text(1000);
    let mut g = c.benchmark_group("maps");
    g.throughput(Throughput::Bytes(m.len() as u64));
    g.bench_function("parse_1000_lines", |b| {
        b.iter(|| maps::parse_all(black_box(&m)))
    });
    g.bench_function("json_lines_1000", |b| {
        b.iter(|| {
            let mut out = vestige::collect::ProcessLines::default();
            vestige::collect::mapping_lines(42, black_box(&m), false, |_| false, &mut out).unwrap();
            out
        })
    });
    g.finish();
    let mut tcp = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n".to_vec();
    for i in 0..1000 {
        tcp.extend_from_slice(format!("   {i}: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 {} 1 0000000000000000 20 4 30 10 -1\n", 30000 + i).as_bytes());
    }
    c.bench_function("tcp_parse_1000_sockets", |b| {
        b.iter(|| net::parse_inet(black_box(&tcp), net::Family::Inet))
    });
}

fn pipeline(c: &mut Criterion) {
    let records: Vec<serde_json::Value> = (0..20_000)
        .map(|i| serde_json::json!({"pid": i, "start": "0x7f0000000000", "end": "0x7f0000001000", "perms": "r-xp", "path": format!("/usr/lib/libexample-{}.so", i % 50), "deleted": false}))
        .collect();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut g = c.benchmark_group("pipeline");
    let raw: usize = records.iter().map(|r| r.to_string().len() + 1).sum();
    g.throughput(Throughput::Bytes(raw as u64));
    let mut n = 0u64;
    g.bench_function("records_20k_zstd3_sha256_to_dir", |b| {
        b.iter_batched(
            || {
                n += 1;
                DirSink::create_root(&tmp.path().join(n.to_string()))
                    .unwrap_or_else(|e| panic!("{e}"))
            },
            |sink| {
                let w = ArtifactWriter::create(&sink, "a.jsonl.zst", Compression::Zstd(3))
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut rw = RecordWriter::new(w);
                for r in &records {
                    rw.write(r).unwrap_or_else(|e| panic!("{e}"));
                }
                rw.finish().unwrap_or_else(|e| panic!("{e}"))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, parsers, pipeline);
criterion_main!(benches);
