"""Strip a training checkpoint down to weights + metadata for sharing.

    python tools/deploy/publish_model.py IN_CKPT OUT_DIR [--name NAME]
        [--no-safetensors]

Writes ``OUT_DIR/<NAME>-<hash>.pth`` and ``OUT_DIR/<NAME>-<hash>.safetensors``
(NAME defaults to the input's stem; the hash is of the tensors and class
names, so the same weights always get the same name). Neither holds
optimizer, message hub or scheduler state. The ``.pth`` loads with
``torch.load(weights_only=True)`` and ``get_model(config, pretrained=...)``;
the ``.safetensors`` (class names, input size, mean/std, temperature and the
training config in its metadata) with ``fruit_ext.apis.init_model(config,
file)`` and ``tools/infer.py CONFIG FILE IMG``. Weights that do not fit
their own class list or training config are refused (exit code 1).
"""
import argparse
import os.path as osp
import sys

from fruit_ext.apis.publish import publish_files
from fruit_ext.compat.checkpoint import (CorruptCheckpointError,
                                         UntrustedCheckpointError)
from fruit_ext.utils.cli import tool_parser


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument('in_file', help='training checkpoint')
    parser.add_argument('out_dir', help='folder for the published files')
    parser.add_argument('--name', help='file name stem (default: the input '
                        "file's stem)")
    parser.add_argument('--no-safetensors', action='store_true',
                        help='write only the .pth')
    return parser.parse_args()


def main() -> int:
    """Publish the checkpoint and print where it went."""
    args = parse_args()
    try:
        written = publish_files(args.in_file, args.out_dir, args.name,
                                safetensors=not args.no_safetensors)
    except (FileNotFoundError, ValueError, UntrustedCheckpointError,
            CorruptCheckpointError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    before = osp.getsize(args.in_file)
    for out_file in written.values():
        print(f'published {out_file} ({osp.getsize(out_file) / 2**20:.1f} '
              f'MiB, was {before / 2**20:.1f} MiB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
