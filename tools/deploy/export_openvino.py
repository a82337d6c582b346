"""Convert an exported ONNX model (fp32 or int8) to OpenVINO IR.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx \\
        [--int8]                      # writes model.onnx (+ model.int8.onnx)
    python tools/deploy/export_openvino.py model.int8.onnx --out model.xml \\
        [--verify IMG ...]

The IR (``model.xml`` + ``model.bin``) carries the same metadata (classes,
preprocessing, calibration), so ``Predictor('model.xml',
backend='openvino')`` runs it; the Predictor also reads the ``.onnx`` files
directly with ``backend='openvino'`` (converting them at each start, which
the IR saves). With ``--verify`` the images are classified by onnxruntime on
the ONNX file and by OpenVINO on the IR; the exit code is 1 if a top-1 class
differs or an image cannot be read.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np

from fruit_ext.apis.openvino_backend import same_top1, save_ir
from fruit_ext.apis.predictor import Predictor


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('onnx', help='.onnx written by export_onnx.py')
    parser.add_argument('--out', required=True, help='.xml file to write')
    parser.add_argument('--fp16', action='store_true',
                        help='store fp32 weights as fp16 (smaller file)')
    parser.add_argument('--verify', nargs='+', default=[], metavar='IMG',
                        help='images to compare onnxruntime and OpenVINO on')
    return parser.parse_args()


def verify(onnx_file: str, xml_file: str, images) -> int:
    """Top-1 agreement of onnxruntime (ONNX) and OpenVINO (IR); exit code.

    A different top-1 between two classes whose scores tie within the
    runtimes' score difference counts as agreeing and is reported.
    """
    ort, ov = Predictor(onnx_file), Predictor(xml_file, backend='openvino')
    agree, ties, worst = 0, 0, 0.0
    for image in images:
        try:
            want, got = ort(image, topk=1)[0], ov(image, topk=1)[0]
        except ValueError as error:
            print(f'error: {error}', file=sys.stderr)
            return 1
        agree += int(same_top1(want, got))
        ties += int(want['pred_label'] != got['pred_label']
                    and same_top1(want, got))
        worst = max(worst, float(np.abs(want['pred_scores'] -
                                        got['pred_scores']).max()))
    print(f'verify on {len(images)} images: OpenVINO top-1 agrees with '
          f'onnxruntime on {agree}/{len(images)}'
          + (f' ({ties} near-tie(s) ranked the other way)' if ties else '')
          + f'; max |score difference| {worst:.3g}')
    return 0 if agree == len(images) else 1


def main() -> int:
    """Convert, then verify; returns the exit code."""
    args = parse_args()
    if not osp.isfile(args.onnx):
        print(f'error: {args.onnx}: file not found', file=sys.stderr)
        return 1
    if not args.out.endswith('.xml'):
        print(f'error: --out {args.out}: OpenVINO IR files end in .xml',
              file=sys.stderr)
        return 1
    try:
        Predictor(args.onnx)  # has the exporter's metadata
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    save_ir(args.onnx, args.out, compress_to_fp16=args.fp16)
    size = sum(osp.getsize(p) for p in (args.out, args.out[:-4] + '.bin'))
    print(f'exported {args.out} (+ .bin, {size / 2**20:.1f} MiB) from '
          f'{args.onnx}')
    return verify(args.onnx, args.out, args.verify) if args.verify else 0


if __name__ == '__main__':
    sys.exit(main())
