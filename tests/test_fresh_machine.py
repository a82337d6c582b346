"""What the tests need comes from the set-up, not from Debian packages:
real photos from wheels when opencv-doc is absent, a CJK font from PyPI."""
import importlib.util

from PIL import Image

from conftest import REPO

TOOL = REPO / 'tools' / 'benchmark' / 'train_throughput.py'


def load_throughput_tool():
    spec = importlib.util.spec_from_file_location('train_throughput', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_throughput_photos_come_from_wheels_without_opencv_doc(
        tmp_path, capsys):
    tool = load_throughput_tool()
    tool.PHOTOS = tmp_path / 'no-opencv-doc'  # a machine without it
    root = tool.make_photo_tree(tmp_path / 'tree', classes=2, per_class=3,
                                size=(64, 48))
    printed = capsys.readouterr().out
    assert 'grace_hopper.jpg' in printed and 'flower.jpg' in printed
    files = sorted((root / 'train').glob('*/*.jpg'))
    assert len(files) == 6
    for path in files:
        with Image.open(path) as image:
            assert image.size == (64, 48)

