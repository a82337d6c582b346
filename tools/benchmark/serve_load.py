#!/usr/bin/env python
"""Load test of tools/demo/serve.py: concurrent clients, some bad uploads.

Starts the server itself on a free 127.0.0.1 port (once per backend), sends
``--clients`` concurrent clients x ``--requests`` requests each, one in
``1 / --bad-ratio`` a bad upload (non-image, empty, truncated JPEG, over the
pixel limit, over the byte limit, in turn), stops after ``--time-limit``
seconds per backend at the latest, and reports 5xx answers (must be 0),
good requests answered (must be all), p50/p95 latency, images/s and the
server's RSS after the warm-up and at the end. Loopback only.

Example (figures in docs/inference.md, "Web page and HTTP API")::

    python tools/benchmark/serve_load.py --model CONFIG CKPT --onnx m.onnx \\
        --images data/fruit30_demo/val --out serve_load.json
"""
import argparse
import asyncio
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SERVE = REPO / 'tools' / 'demo' / 'serve.py'
SUFFIXES = ('.jpg', '.jpeg', '.png')
#: Limits the server is started with, so the bad uploads stay small.
MAX_BYTES = 2_000_000
MAX_PIXELS = 1_000_000


def serve_module():
    """tools/demo/serve.py as a module (without importing torch): the
    server's options are defined there."""
    spec = importlib.util.spec_from_file_location('serve', SERVE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--model', nargs='+', metavar='CONFIG|WORK_DIR',
                        help='PyTorch backend: CONFIG|WORK_DIR [CHECKPOINT]')
    parser.add_argument('--onnx', help='ONNX backend: model file')
    parser.add_argument('--images', required=True,
                        help='folder of good photos (searched recursively)')
    parser.add_argument('--clients', type=int, default=32,
                        help='concurrent clients')
    parser.add_argument('--requests', type=int, default=500,
                        help='requests per client')
    parser.add_argument('--bad-ratio', type=float, default=0.05,
                        help='share of broken uploads')
    parser.add_argument('--warmup', type=int, default=1000,
                        help='requests (same mix) before RSS and timing '
                        'start')
    parser.add_argument('--time-limit', type=float, default=900,
                        help='seconds per backend, then no new requests')
    serve_module().add_server_options(
        parser.add_argument_group('server (tools/demo/serve.py)'), threads=1)
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args(argv)
    if not args.model and not args.onnx:
        parser.error('give --model and/or --onnx')
    return args


def good_uploads(folder: str, limit: int = 200) -> List[tuple]:
    """(name, bytes) of the photos in ``folder``."""
    paths = sorted(p for p in Path(folder).rglob('*')
                   if p.suffix.lower() in SUFFIXES)[:limit]
    if not paths:
        sys.exit(f'error: no .jpg/.png photos under {folder}')
    return [(p.name, p.read_bytes()) for p in paths]


def bad_uploads() -> List[tuple]:
    """(name, bytes, expected kind): one of each way an upload fails."""
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3),
                                              np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, 'JPEG', quality=90)
    jpeg = buffer.getvalue()
    wide = io.BytesIO()
    Image.new('L', (1500, 1000)).save(wide, 'PNG')
    return [('notes.txt', b'not a picture\n', 'non-image'),
            ('empty.jpg', b'', 'zero-byte'),
            ('cut.jpg', jpeg[:len(jpeg) // 2], 'truncated'),
            ('wide.png', wide.getvalue(), 'pixels'),
            ('big.jpg', jpeg * (MAX_BYTES // len(jpeg) + 2), 'bytes')]


def rss_kib(pid: int) -> Dict[str, int]:
    """Resident memory (now and peak) of a process, in KiB (Linux)."""
    fields = {}
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        key, _, value = line.partition(':')
        if key in ('VmRSS', 'VmHWM'):
            fields[key] = int(value.split()[0])
    return fields


def start_server(backend_args: List[str], args, log: Path):
    """serve.py on a free loopback port; returns (process, URL)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    command = [sys.executable, str(SERVE), *backend_args, '--host',
               '127.0.0.1', '--port', str(port), '--threads',
               str(args.threads), '--max-batch', str(args.max_batch),
               '--max-wait-ms', str(args.max_wait_ms), '--max-bytes',
               str(MAX_BYTES), '--max-pixels', str(MAX_PIXELS)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    with open(log, 'w') as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + '/api/health', timeout=2).is_success:
                return process, url
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    sys.exit(f'error: the server did not start; see {log}:\n'
             f'{log.read_text()[-3000:]}')


def plan(total: int, bad_ratio: float, good: list, bad: list) -> List[tuple]:
    """Requests in order: (name, bytes, expected kind or 'good')."""
    every = max(1, round(1 / bad_ratio)) if bad_ratio > 0 else 0
    requests, bad_index = [], 0
    for i in range(total):
        if every and i % every == every - 1:
            requests.append(bad[bad_index % len(bad)])
            bad_index += 1
        else:
            name, data = good[i % len(good)]
            requests.append((name, data, 'good'))
    return requests


async def send_all(url: str, requests: List[tuple], clients: int,
                   time_limit: float, pid: Optional[int] = None,
                   rss: Optional[dict] = None) -> List[dict]:
    """Send ``requests`` with ``clients`` concurrent clients; with ``pid``,
    note the server's RSS in ``rss['half']`` halfway through."""
    records, queue = [], iter(requests)
    deadline = time.monotonic() + time_limit
    limits = httpx.Limits(max_connections=clients,
                          max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker():
            for name, data, expected in queue:
                if time.monotonic() > deadline:
                    return
                start = time.perf_counter()
                record = dict(expected=expected, status=None, error=None)
                try:
                    reply = await client.post(
                        url + '/api/predict', files={'image': (name, data)})
                    record['status'] = reply.status_code
                    body = reply.json()
                    record['ok'] = 'pred_class' in body if \
                        expected == 'good' else body.get('kind') == expected
                except (httpx.HTTPError, ValueError) as error:
                    record['error'] = f'{type(error).__name__}: {error}'[:300]
                record['latency'] = time.perf_counter() - start
                records.append(record)
                if pid and len(records) == len(requests) // 2:
                    rss['half'] = rss_kib(pid)

        await asyncio.gather(*[worker() for _ in range(clients)])
    return records


def load_average() -> str:
    """The 1-minute load average."""
    return f'{os.getloadavg()[0]:.1f}'


def run_backend(label: str, backend_args: List[str], args, good: list,
                bad: list, tmp: Path) -> Dict:
    """Start one server, warm it up, load it, stop it."""
    process, url = start_server(backend_args, args, tmp / f'{label}.log')
    try:
        # the same mix first: buffers, arenas and caches reach their size
        asyncio.run(send_all(url, plan(args.warmup, args.bad_ratio, good,
                                       bad), args.clients, args.time_limit))
        rss = dict(before=rss_kib(process.pid))
        load_before = load_average()
        total = args.clients * args.requests
        start = time.perf_counter()
        records = asyncio.run(send_all(
            url, plan(total, args.bad_ratio, good, bad), args.clients,
            args.time_limit, process.pid, rss))
        wall = time.perf_counter() - start
        rss['after'] = rss_kib(process.pid)
        health = httpx.get(url + '/api/health').json()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return summarise(label, records, total, wall, rss, health,
                     (load_before, load_average()))


def summarise(label: str, records: List[dict], total: int, wall: float,
              rss: Dict[str, dict], health: dict, loads: tuple) -> Dict:
    """The figures of one backend."""
    good = [r for r in records if r['expected'] == 'good']
    bad = [r for r in records if r['expected'] != 'good']
    latency = np.array([r['latency'] for r in good if r.get('ok')]) * 1000
    return dict(
        backend=label, model=health['model'], requests_planned=total,
        requests_sent=len(records), wall_s=round(wall, 1),
        http_5xx=sum(1 for r in records if (r['status'] or 0) >= 500),
        client_errors=sum(1 for r in records if r['error']),
        good_sent=len(good), good_answered=sum(1 for r in good if r.get('ok')),
        bad_sent=len(bad),
        bad_4xx_right_kind=sum(1 for r in bad if r.get('ok') and
                               400 <= r['status'] < 500),
        p50_ms=round(float(np.percentile(latency, 50)), 1),
        p95_ms=round(float(np.percentile(latency, 95)), 1),
        images_per_s=round(len(latency) / wall, 1),
        rss_before_mib=round(rss['before']['VmRSS'] / 1024, 1),
        rss_half_mib=round(rss.get('half', rss['after'])['VmRSS'] / 1024, 1),
        rss_after_mib=round(rss['after']['VmRSS'] / 1024, 1),
        rss_growth_pct=round(100 * (rss['after']['VmRSS'] /
                                    rss['before']['VmRSS'] - 1), 1),
        peak_rss_mib=round(rss['after']['VmHWM'] / 1024, 1),
        mean_batch=health['batching']['mean_batch'],
        errors=Counter(f"{r['expected']}: status {r['status']}, "
                       f"{r['error']}" for r in records
                       if r['error']).most_common(5),
        load_before=loads[0], load_after=loads[1])


def table(results: List[Dict]) -> str:
    """The results as a markdown table."""
    keys = ['backend', 'requests_sent', 'http_5xx', 'client_errors',
            'good_answered', 'good_sent', 'bad_4xx_right_kind', 'bad_sent',
            'p50_ms', 'p95_ms', 'images_per_s', 'mean_batch',
            'rss_before_mib', 'rss_half_mib', 'rss_after_mib',
            'rss_growth_pct',
            'load_before', 'load_after']
    lines = ['| ' + ' | '.join(keys) + ' |',
             '|' + '---|' * len(keys)]
    lines += ['| ' + ' | '.join(str(r[k]) for k in keys) + ' |'
              for r in results]
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the load test for each backend given; 1 if any check failed."""
    args = parse_args(argv)
    good, bad = good_uploads(args.images), bad_uploads()
    results = []
    with tempfile.TemporaryDirectory(prefix='serve_load_') as tmp:
        if args.model:
            results.append(run_backend('pytorch', args.model, args, good,
                                       bad, Path(tmp)))
        if args.onnx:
            results.append(run_backend('onnx', ['--onnx', args.onnx], args,
                                       good, bad, Path(tmp)))
    print(table(results))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    failed = [r['backend'] for r in results
              if r['http_5xx'] or r['good_answered'] != r['good_sent']
              or r['requests_sent'] != r['requests_planned']]
    for result in results:
        for error, count in result['errors']:
            print(f"{result['backend']}: {count} x {error}")
    if failed:
        print(f'FAILED: {failed} (5xx, unanswered good requests, or the '
              'time limit cut the run)')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
