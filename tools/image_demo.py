"""Predict one image and draw the result, as the course's demo did.

    python tools/image_demo.py IMG CONFIG CHECKPOINT [--out-file OUT.png]
    python tools/image_demo.py IMG WORK_DIR [CHECKPOINT] [--out-file OUT.png]
"""
import argparse
import json
import pickle
import sys

from mmpretrain import inference_model

from fruit_ext.apis import init_model, show_result_pyplot


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('img', help='image file')
    parser.add_argument('config', metavar='CONFIG|WORK_DIR',
                        help='model config file, model-index name, or '
                        'training work dir (its dumped config and best.pth)')
    parser.add_argument('checkpoint', nargs='?',
                        help='checkpoint file (.pth or .safetensors); '
                        'optional after a work dir')
    parser.add_argument('--out-file', help='write the drawn result here')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--resize', type=int, default=384,
        help='short edge of the drawn picture, so labels stay legible')
    return parser.parse_args()


def main() -> None:
    """Run inference and print the prediction as JSON."""
    args = parse_args()
    try:  # model files that cannot be used: one line, exit code 1
        model = init_model(args.config, args.checkpoint, device=args.device)
    except (ValueError, FileNotFoundError, RuntimeError,
            pickle.UnpicklingError) as error:
        sys.exit(f'error: {error}')
    result = inference_model(model, args.img)
    show_result_pyplot(
        model, args.img, result, out_file=args.out_file, resize=args.resize)
    summary = {key: result[key] for key in ('pred_label', 'pred_class')}
    summary['pred_score'] = round(float(result['pred_score']), 4)
    print(json.dumps(summary, ensure_ascii=False))
    if args.out_file:
        print(f'picture written to {args.out_file}')


if __name__ == '__main__':
    main()
