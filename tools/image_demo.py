"""Predict one image and draw the result, as the course's demo did.

    python tools/image_demo.py IMG CONFIG CHECKPOINT [--out-file OUT.png]
    python tools/image_demo.py IMG WORK_DIR [CHECKPOINT] [--out-file OUT.png]

The image is decoded like the config's test pipeline decodes it (fruit_ext's
``RobustLoadImageFromFile``); a file that cannot be decoded is named with the
reason, and the exit code is 1.
"""
import argparse
import json
import pickle
import sys

from mmpretrain import inference_model

from fruit_ext.apis import init_model, show_result_pyplot
from fruit_ext.apis.work_dir import add_model_arguments
from fruit_ext.datasets import BrokenImageError
from fruit_ext.utils.cli import add_options, tool_parser


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = tool_parser(__doc__)
    parser.add_argument('img', help='image file')
    add_model_arguments(parser)
    parser.add_argument('--out-file', help='write the drawn result here')
    add_options(parser, '--device')
    parser.add_argument(
        '--resize', type=int, default=384,
        help='short edge of the drawn picture, so labels stay legible')
    return parser.parse_args()


def main() -> int:
    """Run inference and print the prediction as JSON.

    Returns:
        The exit code: 1 when the image cannot be decoded.
    """
    args = parse_args()
    try:  # model files that cannot be used: one line, exit code 1
        model = init_model(args.config, args.checkpoint, device=args.device)
    except (ValueError, FileNotFoundError, RuntimeError,
            pickle.UnpicklingError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    try:
        result = inference_model(model, args.img)
        show_result_pyplot(model, args.img, result, out_file=args.out_file,
                           resize=args.resize)
    except BrokenImageError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    summary = {key: result[key] for key in ('pred_label', 'pred_class')}
    summary['pred_score'] = round(float(result['pred_score']), 4)
    print(json.dumps(summary, ensure_ascii=False))
    if args.out_file:
        print(f'picture written to {args.out_file}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
