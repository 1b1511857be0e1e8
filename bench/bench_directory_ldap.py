"""Benchmark: a paged LDAP search of every sandbox mailbox, SDK vs raw python-ldap, same run.

Baseline: the plain RFC 2696 loop of python-ldap (``search_ext`` + ``result3`` with a
``SimplePagedResultsControl``, 500 per page), over the same StartTLS connection settings,
same filter and same attribute list, returning python-ldap's raw ``(dn, {attr: [bytes]})``.
SDK: ``Directory(LDAPDirectory(...)).iter_search()`` of the same entries, returning typed
``Professional`` / ``Organisation`` models (every identifier and address validated). Both keep
every result in a list, so that both pay the garbage collector for what they return.

Runs alternate (raw, SDK, raw, SDK, ...) so that machine load affects both alike; the figures
are the ratio of the medians and the median of the per-pair ratios (each SDK run against the
raw run just before it). Uses the sandbox at ``MSSANTE_SANDBOX_ROOT`` if one runs there,
otherwise starts one (port base ``MSSANTE_SANDBOX_PORT_BASE``, default 20000) and stops it.

Usage: ``python bench/bench_directory_ldap.py [--entries 10000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ldap
from ldap.controls import SimplePagedResultsControl

import mssante_client.directory.ldap as ldap_backend
from mssante_client.directory import Directory
from mssante_client.directory.ldap import LDAPDirectory
from mssante_client.directory.ldap_filter import build_filter
from mssante_client.directory.ldap_mapping import SANDBOX_MAPPING
from mssante_client.directory.query import DirectoryQuery
from mssante_client.sandbox import Sandbox, SandboxInfo


def raw_paged(info: SandboxInfo, base: str, flt: str, attrs: list[str]) -> int:
    conn: Any = ldap.initialize(info.ldap_uri)
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(info.ca_file))
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    conn.start_tls_s()
    conn.simple_bind_s("", "")
    ctrl = SimplePagedResultsControl(True, size=500, cookie=b"")
    out: list[Any] = []
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_ONELEVEL, flt, attrs, serverctrls=[ctrl])
        _, data, _, controls = conn.result3(msgid)
        out += data
        cookie = next((c.cookie for c in controls if c.controlType == ctrl.controlType), b"")
        if not cookie:
            break
        ctrl.cookie = cookie
    conn.unbind_s()
    return len(out)


def sdk_paged(info: SandboxInfo, base: str) -> int:
    backend = LDAPDirectory(info.ldap_uri, base_dn=base, ca_file=info.ca_file)
    with Directory(backend) as directory:
        return len(list(directory.iter_search(page_size=1000)))  # kept, as the raw loop keeps


def sdk_paging_only(info: SandboxInfo, base: str) -> int:
    """The SDK's paging machinery alone: every entry mapped to one prebuilt model.

    Not a user path: it splits the SDK's cost into paging (this) and model mapping (the rest).
    """
    prebuilt = ldap_backend.entry_to_model("uid=x", {"mail": [b"x@y.fr"], "mssTypeBAL": [b"PER"]})
    real = ldap_backend.entry_to_model
    ldap_backend.entry_to_model = lambda dn, entry, mapping: prebuilt  # type: ignore[assignment]
    try:
        return sdk_paged(info, base)
    finally:
        ldap_backend.entry_to_model = real


def _sandbox(entries: int) -> tuple[SandboxInfo, Sandbox | None]:
    root = os.environ.get("MSSANTE_SANDBOX_ROOT")
    port_base = int(os.environ.get("MSSANTE_SANDBOX_PORT_BASE", "20000"))
    if root:
        info = Sandbox(Path(root), port_base=port_base).status()
        if info is not None:
            return info, None
    sandbox = Sandbox(Path(tempfile.mkdtemp(prefix="bench-dir-")), port_base=port_base)
    return sandbox.start(directory_entries=entries), sandbox


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    info, started = _sandbox(args.entries)
    try:
        base = f"ou=bal,{info.ldap_base}"
        flt = build_filter(DirectoryQuery())
        attrs = SANDBOX_MAPPING.attributes()
        raw_n, sdk_n = raw_paged(info, base, flt, attrs), sdk_paged(info, base)  # warm up
        runs = {
            "raw": lambda: raw_paged(info, base, flt, attrs),
            "sdk": lambda: sdk_paged(info, base),
            "paging": lambda: sdk_paging_only(info, base),
        }
        wall: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeat):
            for name, run in runs.items():  # interleaved: load affects all alike
                t, c = time.perf_counter(), time.process_time()
                run()
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
        # each SDK run against the raw run just before it: a machine whose speed drifts
        # between runs (shared VMs do) moves both runs of a pair alike
        paired = statistics.median(s / r for s, r in zip(wall["sdk"], wall["raw"], strict=True))
        w = {k: statistics.median(v) for k, v in wall.items()}
        c = {k: statistics.median(v) for k, v in cpu.items()}
        load = os.getloadavg()[0]
        print(f"entries: raw {raw_n}, sdk {sdk_n} (liste rouge entries are never published)")
        print(f"machine load average (1 min) at the end: {load:.1f} on {os.cpu_count()} CPUs")
        print(f"raw python-ldap paged loop: median {w['raw']:.3f} s wall, {c['raw']:.3f} s CPU")
        print(f"Directory.iter_search (models): median {w['sdk']:.3f} s wall, {c['sdk']:.3f} s CPU")
        print(f"  of which paging only: median {w['paging']:.3f} s wall, {c['paging']:.3f} s CPU")
        print(
            f"ratio sdk/raw: {w['sdk'] / w['raw']:.2f} wall, {c['sdk'] / c['raw']:.2f} client CPU"
        )
        print(f"ratio sdk/raw, median of the {args.repeat} paired runs: {paired:.2f} wall")
        print(
            f"ratio paging-only/raw: {w['paging'] / w['raw']:.2f} wall, "
            f"{c['paging'] / c['raw']:.2f} client CPU"
        )
        mapping_us = (c["sdk"] - c["paging"]) / max(sdk_n, 1) * 1e6
        print(f"model mapping: {mapping_us:.0f} µs of CPU per entry")
    finally:
        if started is not None:
            started.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
