"""Benchmark: import a 550,000-line MSSanté extraction and search it, against a raw baseline.

Input: a synthetic extraction in the exact 31-column format (``extraction_gen``, seeded), the size
of the real file (~535k lines in 2026, rules §5.2), with a malformed line every 10,000.

Baselines (same run, same file):

* import: read the file, ``split("|")`` every line, ``executemany`` the 31 raw fields into one
  plain SQLite table in one transaction with the journal off: no validation, no dedupe, no
  folding, no full-text index, no B-tree index;
* search: the same question on that raw table, as one would write it without an index:
  ``"Nom d'exercice" LIKE 'dup%' AND "L6LIGNEACHEMINEMENT structure BAL" LIKE '%PARIS%'``
  (SQLite's LIKE is ASCII case-insensitive, and blind to accents: the baseline answers less).

Each import runs in a fresh child process. Figures: wall time, CPU time of the process (both of
its threads), peak resident memory (``VmHWM``). Searches run in this process on the built
files: the SDK search is ``ExtractionBackend.search_page`` (opening the index, the SQL page and
its count, and building the result models), timed per query; p50/p95 over ``--queries``.
The load average is printed: on a shared machine wall times follow it, CPU times much less.

Usage: ``python bench/bench_directory_extraction.py [--rows 550000] [--queries 300]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def child_baseline(source: Path, target: Path) -> dict[str, Any]:
    from mssante_client.directory.extraction_format import COLUMNS

    wall, cpu = time.perf_counter(), time.process_time()
    db = sqlite3.connect(target, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    columns = ", ".join(f'"{name}"' for name in COLUMNS)
    db.execute(f"CREATE TABLE raw ({columns})")
    marks = ", ".join("?" * len(COLUMNS))
    insert = f"INSERT INTO raw VALUES ({marks})"
    batch: list[list[str]] = []
    with source.open("rb") as handle:
        next(handle)
        for raw in handle:
            values = raw.decode("utf-8", "replace").rstrip("\n").split("|")
            if len(values) != len(COLUMNS):
                continue
            batch.append(values)
            if len(batch) >= 20_000:
                db.executemany(insert, batch)
                batch.clear()
    db.executemany(insert, batch)
    db.execute("COMMIT")
    db.close()
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "peak": _peak_rss(),
    }


def child_sdk(source: Path, target: Path) -> dict[str, Any]:
    from mssante_client.directory.extraction import build_index

    wall, cpu = time.perf_counter(), time.process_time()
    report = build_index(source, target)
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "peak": _peak_rss(),
        "rows_read": report.rows_read,
        "mailboxes": report.mailboxes,
        "activities": report.activities,
        "duplicates": report.duplicate_rows,
        "malformed": report.malformed,
    }


def _run_child(kind: str, source: Path, target: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--source",
            str(source),
            "--target",
            str(target),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def bench_search(
    index: Path, raw: Path, queries: int
) -> list[tuple[str, float, float, float, int]]:
    from mssante_client.directory.extraction import ExtractionBackend
    from mssante_client.directory.extraction_gen import FAMILY_NAMES, GIVEN_NAMES, PLACES
    from mssante_client.directory.query import DirectoryQuery

    rng = random.Random(42)
    backend = ExtractionBackend(index)
    raw_db = sqlite3.connect(f"file:{raw}?mode=ro", uri=True)
    rows: list[tuple[str, float, float, float, int]] = []

    def measure(label: str, make: Any) -> None:
        times: list[float] = []
        cpu: list[float] = []
        found = 0
        for _ in range(queries):
            query = make()
            start, start_cpu = time.perf_counter(), time.process_time()
            page = backend.search_page(query, page_size=20, state=None)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            found += len(page.results)
        p50, p95 = _percentiles(times)
        rows.append((label, p50, p95, statistics.median(cpu), found))

    def name_city() -> tuple[str, str]:
        family = rng.choice(FAMILY_NAMES)
        return family[: rng.choice((3, 4, 5))], rng.choice(PLACES)[1]

    measure(
        "name prefix + city",
        lambda: DirectoryQuery(**dict(zip(("family_name", "city"), name_city(), strict=True))),
    )

    # the index's share of it: the page and count statements alone, on one warm connection
    from mssante_client.directory.extraction_index import compile_search

    index_db = sqlite3.connect(f"file:{index}?mode=ro&immutable=1", uri=True)
    times = []
    cpu = []
    for _ in range(queries):
        family, city = name_city()
        sql = compile_search(DirectoryQuery(family_name=family, city=city), after=None, limit=21)
        assert sql is not None
        start, start_cpu = time.perf_counter(), time.process_time()
        index_db.execute(sql.page, sql.page_params).fetchall()
        index_db.execute(sql.count, sql.count_params).fetchone()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    p50, p95 = _percentiles(times)
    rows.append(("  of which SQL (page + count)", p50, p95, statistics.median(cpu), 0))
    index_db.close()

    # the same questions on the raw table, with LIKE scans
    times = []
    cpu = []
    found = 0
    for _ in range(max(5, queries // 20)):
        prefix, city = name_city()
        start, start_cpu = time.perf_counter(), time.process_time()
        hits = raw_db.execute(
            'SELECT * FROM raw WHERE "Nom d\'exercice" LIKE ? '
            'AND "L6LIGNEACHEMINEMENT structure BAL" LIKE ? LIMIT 20',
            (prefix + "%", f"%{city}%"),
        ).fetchall()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        found += len(hits)
    p50, p95 = _percentiles(times)
    rows.append(
        ("baseline: raw LIKE scan, name prefix + city", p50, p95, statistics.median(cpu), found)
    )

    measure(
        "given name prefix + department",
        lambda: DirectoryQuery(
            given_name=rng.choice(GIVEN_NAMES)[:3], department=rng.choice(PLACES)[2]
        ),
    )
    measure(
        "profession + specialty + postal code",
        lambda: DirectoryQuery(
            profession="10", specialty="SM54", postal_code=rng.choice(PLACES)[0]
        ),
    )
    measure("IdNatPS (RPPS)", lambda: DirectoryQuery(id_nat_ps=_id_nat_ps(rng)))
    measure(
        "organisation substring (scan)",
        lambda: DirectoryQuery(organisation=rng.choice(("clinique", "maison de sante", "ehpad"))),
    )
    measure(
        "free text, 2 words (scan)",
        lambda: DirectoryQuery(text=f"{rng.choice(FAMILY_NAMES)} {rng.choice(PLACES)[1]}"),
    )
    raw_db.close()
    return rows


def _id_nat_ps(rng: random.Random) -> str:
    from mssante_client.identity import luhn_check_digit

    body = f"1{rng.randrange(1, 400_000):09d}"
    return "8" + body + str(luhn_check_digit(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=550_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--child", choices=("baseline", "sdk"))
    parser.add_argument("--source", type=Path)
    parser.add_argument("--target", type=Path)
    parser.add_argument("--keep", type=Path, help="keep the built files in this folder")
    parser.add_argument("--reuse", type=Path, help="a folder of a previous run: searches only")
    args = parser.parse_args()
    if args.reuse:
        print(f"load average: {os.getloadavg()[0]:.2f}")
        _print_searches(
            bench_search(args.reuse / "index.sqlite", args.reuse / "raw.sqlite", args.queries)
        )
        return
    if args.child:
        run = child_baseline if args.child == "baseline" else child_sdk
        print(json.dumps(run(args.source, args.target)))
        return

    from mssante_client.directory.extraction_gen import write_extraction

    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as folder:
        root = Path(folder)
        start = time.perf_counter()
        info = write_extraction(
            root / "Extraction_Correspondance_MSSante.txt",
            args.rows,
            seed=2026,
            malformed_every=10_000,
        )
        size = info.path.stat().st_size
        elapsed = time.perf_counter() - start
        print(f"generated {info.rows:,} lines ({size / 1e6:.0f} MB) in {elapsed:.1f} s")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        base = _run_child("baseline", info.path, root / "raw.sqlite")
        sdk = _run_child("sdk", info.path, root / "index.sqlite")
        print(f"load average after imports: {os.getloadavg()[0]:.2f}")
        assert sdk["malformed"] == len(info.malformed_lines)
        assert sdk["mailboxes"] == info.distinct_addresses
        index_size = (root / "index.sqlite").stat().st_size
        raw_size = (root / "raw.sqlite").stat().st_size
        print()
        print("| import of the extraction | wall s | CPU s | peak RSS MB | file MB |")
        print("|---|---|---|---|---|")
        for label, result, size_ in (
            ("baseline (raw rows, no index)", base, raw_size),
            ("SDK `build_index`", sdk, index_size),
        ):
            print(
                f"| {label} | {result['wall']:.1f} | {result['cpu']:.1f} | "
                f"{result['peak'] / 1e6:.0f} | {size_ / 1e6:.0f} |"
            )
        print(
            f"| ratio SDK / baseline | {sdk['wall'] / base['wall']:.2f} | "
            f"{sdk['cpu'] / base['cpu']:.2f} | {sdk['peak'] / base['peak']:.2f} | "
            f"{index_size / raw_size:.2f} |"
        )
        print(
            f"\nSDK import: {sdk['rows_read']:,} lines, {sdk['mailboxes']:,} mailboxes, "
            f"{sdk['activities']:,} activities, {sdk['duplicates']:,} duplicate lines merged, "
            f"{sdk['malformed']} malformed lines reported; target < 60 s wall: "
            f"{'met' if sdk['wall'] < 60 else 'NOT met'}"
        )
        rows = bench_search(root / "index.sqlite", root / "raw.sqlite", args.queries)
        print(f"\nload average after searches: {os.getloadavg()[0]:.2f}")
        _print_searches(rows)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for name in ("index.sqlite", "raw.sqlite"):
                os.replace(root / name, args.keep / name)


def _print_searches(rows: list[tuple[str, float, float, float, int]]) -> None:
    print("\n| search (page of 20, with total) | p50 ms | p95 ms | CPU p50 ms | results |")
    print("|---|---|---|---|---|")
    for label, p50, p95, cpu_p50, found in rows:
        figures = f"{p50 * 1000:.2f} | {p95 * 1000:.2f} | {cpu_p50 * 1000:.2f}"
        print(f"| {label} | {figures} | {found:,} |")
    sdk_p50, sdk_cpu = rows[0][1], rows[0][3]
    base_p50, base_cpu = rows[2][1], rows[2][3]
    print(
        f"\nname prefix + city: SDK / baseline p50 = {sdk_p50 / base_p50:.3f} (wall), "
        f"{sdk_cpu / base_cpu:.3f} (CPU); target p50 < 10 ms: "
        f"wall {'met' if sdk_p50 < 0.010 else 'NOT met'}, "
        f"CPU {'met' if sdk_cpu < 0.010 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
