"""Start ``tools/demo/serve.py`` as a real process on a free loopback port."""
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Set

import httpx

from conftest import BIN, REPO


def free_port() -> int:
    """A port nobody listens on now (loopback)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextmanager
def serve(args: List[str], log: Path,
          timeout: float = 120.0) -> Iterator[tuple]:
    """Run serve.py with ``args`` until the block ends.

    Yields:
        (base URL, the process).
    """
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PATH=f'{BIN}{os.pathsep}{os.environ.get("PATH", "")}')
    with open(log, 'w') as out:
        process = subprocess.Popen(
            [sys.executable, str(REPO / 'tools' / 'demo' / 'serve.py'),
             *args, '--port', str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f'serve.py exited {process.returncode}:'
                                     f'\n{log.read_text()[-4000:]}')
            try:
                if httpx.get(url + '/api/health', timeout=2).is_success:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f'serve.py not up after {timeout} s:\n'
                                     f'{log.read_text()[-4000:]}')
            time.sleep(0.3)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def listening_addresses(pid: int) -> Set[str]:
    """``ip:port`` of the TCP sockets process ``pid`` listens on (Linux)."""
    inodes = set()
    for fd in Path(f'/proc/{pid}/fd').iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    found = set()
    for table, v6 in (('tcp', False), ('tcp6', True)):
        lines = Path(f'/proc/{pid}/net/{table}').read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] == '0A' and fields[9] in inodes:  # 0A: LISTEN
                found.add(_address(fields[1], v6))
    return found


def _address(hex_address: str, v6: bool) -> str:
    host, port = hex_address.split(':')
    raw = bytes.fromhex(host)
    if v6:
        words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
        ip = socket.inet_ntop(socket.AF_INET6, b''.join(words))
    else:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    return f'{ip}:{int(port, 16)}'


def tiny_served_model(root: Path, data_root: Path) -> tuple:
    """A tiny MobileNetV2 checkpoint (random weights, head scaled so the
    top-1 is clear) for the fruit30 classes, trained config's layout.

    Returns:
        (config, checkpoint).
    """
    import torch

    from checkpoint_helpers import save_checkpoint, tiny_cfg
    config = tiny_cfg(root, data_root, name='served.py')
    checkpoint, model = save_checkpoint(config, root / 'served.pth', seed=1)
    state = torch.load(checkpoint, weights_only=True)
    for key in ('head.fc.weight', 'head.fc.bias'):
        state['state_dict'][key] = state['state_dict'][key] * 40
    torch.save(state, checkpoint)
    return config, checkpoint
