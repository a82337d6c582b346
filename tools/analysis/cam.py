"""Where the model looked: Grad-CAM heat maps of images.

    python tools/analysis/cam.py CONFIG CHECKPOINT IMG... --out-dir DIR
        [--label N] [--target-layer NAME] [--device cpu]
    python tools/analysis/cam.py WORK_DIR [CHECKPOINT] IMG... --out-dir DIR
    python tools/analysis/cam.py CHECKPOINT IMG... --out-dir DIR

For each image, ``DIR/<image name>_cam.png`` (the size of the image) shows
the heat map of the predicted class (or ``--label``) at the last feature map
of the backbone, found for MobileNetV2 and EfficientNet-Lite0
(``--target-layer`` names another module, e.g. backbone.layer6). Built on
the ``grad-cam`` package (fruit_ext.visualization.cam); mmpretrain's own
tools/visualization/vis_cam.py also works with fruit_ext installed.
"""
import argparse
import os
import os.path as osp
import sys

from PIL import Image

from fruit_ext.apis.batch_inference import BatchInferencer
from fruit_ext.apis.image_core import BrokenImageError, load_rgb
from fruit_ext.apis.image_inputs import collect_images
from fruit_ext.apis.work_dir import (WorkDirError, add_model_input_arguments,
                                     split_model_inputs)
from fruit_ext.utils.cli import add_options, tool_parser
from fruit_ext.visualization.cam import find_target_layer, grad_cam_overlay


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    add_model_input_arguments(parser)
    parser.add_argument('--out-dir', required=True,
                        help='folder for the heat-map pictures')
    parser.add_argument('--label', type=int,
                        help='class index to explain (default: predicted)')
    parser.add_argument('--target-layer', help='module name (default: the '
                        "backbone's last feature map)")
    add_options(parser, '--device')
    args = parser.parse_args()
    split_model_inputs(parser, args)
    return args


def main() -> int:
    """Predict each image, write its heat map."""
    args = parse_args()
    try:
        inferencer = BatchInferencer(args.model, args.checkpoint,
                                     device=args.device)
        model = inferencer.inferencer.model
        layer, _ = find_target_layer(model, args.target_layer)
    except (WorkDirError, ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    paths, missing = collect_images(args.inputs)
    predictions, unreadable = inferencer.predict(paths, topk=1,
                                                 progress=False)
    os.makedirs(args.out_dir, exist_ok=True)
    for prediction in predictions:
        label = prediction.pred_label if args.label is None else args.label
        try:
            image = load_rgb(prediction.path)
        except BrokenImageError as error:
            unreadable.append((prediction.path, error.reason))
            continue
        out = osp.join(args.out_dir, osp.splitext(
            osp.basename(prediction.path))[0] + '_cam.png')
        Image.fromarray(grad_cam_overlay(model, image, label, layer)).save(
            out)
        print(f'{prediction.path}: {inferencer.classes[label]} '
              f'({prediction.scores[label]:.3f}), layer {layer} -> {out}')
    for path, reason in missing + unreadable:
        print(f'skipped {path}: {reason}', file=sys.stderr)
    return 0 if predictions else 1


if __name__ == '__main__':
    sys.exit(main())
