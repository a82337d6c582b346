#!/usr/bin/env python
"""Serve a trained model as a web page and a JSON API (one process).

Examples::

    python tools/demo/serve.py work_dirs/mobilenet-v2_fruit
    python tools/demo/serve.py CONFIG CHECKPOINT --port 7861
    python tools/demo/serve.py --onnx model.onnx        # no torch needed
    curl -F image=@apple.jpg http://127.0.0.1:7860/api/predict

Open http://127.0.0.1:7860 for the page; ``GET /api/health`` describes the
model. It binds 127.0.0.1 unless ``--host`` says otherwise.
"""
import argparse
import importlib
import importlib.util
import os
import sys
from typing import Optional, Sequence

os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'  # before gradio is imported


def add_server_options(parser: argparse.ArgumentParser,
                       threads: Optional[int] = None) -> None:
    """Threads and batching: also the load test's options
    (tools/benchmark/serve_load.py starts this server with them).

    Args:
        parser: The argument parser.
        threads: Default of ``--threads`` (None: the library's).
    """
    parser.add_argument('--threads', type=int, default=threads,
                        help='torch / onnxruntime threads (none: the '
                        'library default)')
    parser.add_argument('--max-batch', type=int, default=16,
                        help='most images per forward pass')
    parser.add_argument('--max-wait-ms', type=float, default=10.0,
                        help='how long a request waits for others to batch '
                        'with')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Serve a model: Gradio page at /, JSON API at /api.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('config', nargs='?', metavar='CONFIG|WORK_DIR',
                        help='config file, model-index name, training work '
                        'dir or checkpoint alone (omit with --onnx)')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file (optional after a work dir)')
    parser.add_argument('--onnx', help='serve this ONNX model (from '
                        'tools/deploy/export_onnx.py) with onnxruntime only')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to bind')
    parser.add_argument('--port', type=int, default=7860,
                        help='port')
    parser.add_argument('--device', default='cpu', help='torch device')
    add_server_options(parser)
    parser.add_argument('--max-bytes', type=int, default=20 * 1024 * 1024,
                        help='largest upload in bytes')
    parser.add_argument('--max-pixels', type=int, default=40_000_000,
                        help="largest image, width x height (Pillow's bomb "
                        'guard refuses 179 M)')
    parser.add_argument('--examples', help='folder of example photos for '
                        "the page (none: the config's val split, else "
                        'drawn demo pictures)')
    args = parser.parse_args(argv)
    if bool(args.onnx) == bool(args.config):
        parser.error('give CONFIG|WORK_DIR [CHECKPOINT] or --onnx FILE')
    return args


def serving_package(standalone: bool):
    """``fruit_ext.serving``; with ``standalone``, the same folder loaded
    without ``fruit_ext/__init__.py`` (which imports torch)."""
    if not standalone:
        return importlib.import_module('fruit_ext.serving')
    spec = importlib.util.find_spec('fruit_ext')
    folder = os.path.join(spec.submodule_search_locations[0], 'serving')
    name = 'fruit_ext_serving'
    package = importlib.util.spec_from_file_location(
        name, os.path.join(folder, '__init__.py'),
        submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(package)
    sys.modules[name] = module
    package.loader.exec_module(module)
    return module


def build_backend(args, serving):
    """The model behind the server."""
    backends = importlib.import_module(serving.__name__ + '.backends')
    if args.onnx:
        return backends.OnnxBackend(args.onnx, threads=args.threads)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    return backends.TorchBackend(args.config, args.checkpoint, args.device,
                                 args.max_batch)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Build the app and serve it until interrupted."""
    args = parse_args(argv)
    serving = serving_package(standalone=bool(args.onnx))
    import uvicorn
    app_module = importlib.import_module(serving.__name__ + '.app')
    limits = importlib.import_module(serving.__name__ + '.limits').Limits(
        max_bytes=args.max_bytes, max_pixels=args.max_pixels)
    try:
        backend = build_backend(args, serving)
    except (OSError, ValueError) as error:  # missing / unfit model files
        print(f'error: {error}', file=sys.stderr)
        return 1
    app = app_module.build_app(backend, limits, args.max_batch,
                               args.max_wait_ms, examples_dir=args.examples)
    print(f'Serving {backend.name} ({backend.backend}) on '
          f'http://{args.host}:{args.port}  (API: /api/predict, '
          '/api/health)', flush=True)
    # keep-alive longer than clients' own (httpx: 5 s), so a client never
    # reuses a connection the server is closing at that moment
    uvicorn.run(app, host=args.host, port=args.port, log_level='warning',
                timeout_keep_alive=30)
    return 0


if __name__ == '__main__':
    sys.exit(main())
