"""Strip a training checkpoint down to weights + class names for sharing.

    python tools/deploy/publish_model.py IN_CKPT OUT_DIR [--name NAME]

Writes ``OUT_DIR/<NAME>-<sha256[:8]>.pth`` (NAME defaults to the input's
stem): no optimizer, message hub or scheduler state, loadable with
``torch.load(weights_only=True)`` and ``get_model(config, pretrained=...)``.
"""
import argparse
import os.path as osp
import sys

from fruit_ext.apis import publish_checkpoint
from fruit_ext.compat.checkpoint import (CorruptCheckpointError,
                                         UntrustedCheckpointError)


def main() -> int:
    """Publish the checkpoint and print where it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('in_file', help='training checkpoint')
    parser.add_argument('out_dir', help='folder for the published file')
    parser.add_argument('--name', help='file name stem')
    args = parser.parse_args()
    try:
        out_file = publish_checkpoint(args.in_file, args.out_dir, args.name)
    except (FileNotFoundError, ValueError, UntrustedCheckpointError,
            CorruptCheckpointError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    before, after = osp.getsize(args.in_file), osp.getsize(out_file)
    print(f'published {out_file} ({after / 2**20:.1f} MiB, was '
          f'{before / 2**20:.1f} MiB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
