"""tools/dataset/check.py on a dataset holding every kind of bad file."""
import hashlib
import io
import json
import shutil
import struct
import sys
import zlib
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
from PIL import Image

from conftest import run, write_class_tree
from fruit_ext.datasets import check_dataset

CHECK = ['tools/dataset/check.py']


def photo(width: int = 48, height: int = 32, seed: int = 0) -> Image.Image:
    """A smooth RGB gradient with noise: compresses like a photo."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((height, width, 3))
    pixels[..., 0] = np.linspace(0, 255, width)[None, :]
    pixels[..., 1] = np.linspace(0, 255, height)[:, None]
    pixels[..., 2] = 128 + 60 * seed % 100
    pixels += rng.integers(0, 20, pixels.shape)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def jpeg_bytes(image: Image.Image, **kwargs) -> bytes:
    """``image`` encoded as JPEG."""
    buffer = io.BytesIO()
    image.save(buffer, 'JPEG', **kwargs)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data)))


def write_bomb_png(path: Path, width: int = 20000,
                   height: int = 10000) -> Path:
    """A valid 1-bit PNG of 200 M pixels in ~25 kB: a decompression bomb."""
    packer = zlib.compressobj(9)
    row = b'\x00' * (1 + (width + 7) // 8)
    body = b''.join(packer.compress(row) for _ in range(height))
    header = struct.pack('>IIBBBBB', width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', header)
                     + _png_chunk(b'IDAT', body + packer.flush())
                     + _png_chunk(b'IEND', b''))
    return path


def write_exif_rotated(path: Path, orientation: int = 6) -> Path:
    """A 48x32 JPEG whose EXIF says to show it rotated (32x48)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    photo(seed=6).save(path, exif=exif, quality=95)
    return path


def write_grey16(path: Path) -> Path:
    """A 16-bit greyscale PNG, all 40000 (8-bit: 156)."""
    Image.fromarray(np.full((32, 48), 40000, np.uint16)).save(path)
    return path


def write_bad_tree(root: Path) -> Dict[str, str]:
    """A split dataset with every problem check.py looks for.

    Returns:
        {kind: a path (relative to root) that shows it}.
    """
    write_class_tree(root, ('a', 'b', 'c', 'd'), {'train': 3, 'val': 1})
    shutil.rmtree(root / 'val' / 'd')  # class folders differ
    (root / 'train' / 'e').mkdir()  # empty class
    (root / 'val' / 'e').mkdir()
    train = root / 'train'
    for i in range(8):  # class a: 11 images vs 1 in d
        photo(seed=10 + i).save(train / 'a' / f'more{i}.jpg')
    (train / 'a' / 'empty.jpg').write_bytes(b'')
    (train / 'a' / 'corrupt.jpg').write_bytes(
        b'\xff\xd8\xff\xe0' + bytes(range(256)) * 4)
    data = jpeg_bytes(photo(64, 64))
    (train / 'a' / 'truncated.jpg').write_bytes(data[:len(data) * 2 // 3])
    (train / 'a' / 'notes.jpg').write_text('not a picture')
    (train / 'b' / 'readme.txt').write_text('hello')
    photo(seed=1).save(train / 'b' / 'png_as.jpg', 'PNG')
    photo(seed=2).convert('L').save(train / 'b' / 'grey.png')
    photo(seed=3).convert('P').save(train / 'b' / 'palette.png')
    photo(seed=4).convert('RGBA').save(train / 'b' / 'alpha.png')
    photo(seed=5).convert('CMYK').save(train / 'c' / 'cmyk.jpg')
    write_grey16(train / 'c' / 'deep.png')
    write_exif_rotated(train / 'c' / 'rotated.jpg')
    photo(16, 16, seed=7).save(train / 'c' / 'small.jpg')
    write_bomb_png(train / 'c' / 'bomb.png')
    shutil.copy(train / 'a' / '0.jpg', train / 'a' / 'dup.jpg')
    shutil.copy(train / 'a' / '1.jpg', train / 'b' / 'dup_other_class.jpg')
    shutil.copy(train / 'b' / '0.jpg', root / 'val' / 'b' / 'leak.jpg')
    return {
        'zero-byte': 'train/a/empty.jpg', 'unreadable': 'train/a/corrupt.jpg',
        'truncated': 'train/a/truncated.jpg', 'non-image': 'train/a/notes.jpg',
        'bomb': 'train/c/bomb.png', 'ext-mismatch': 'train/b/png_as.jpg',
        'grayscale': 'train/b/grey.png', 'palette': 'train/b/palette.png',
        'alpha': 'train/b/alpha.png', 'cmyk': 'train/c/cmyk.jpg',
        '16-bit': 'train/c/deep.png', 'exif-rotated': 'train/c/rotated.jpg',
        'too-small': 'train/c/small.jpg', 'duplicate': 'train/a/dup.jpg',
        'leakage': 'val/b/leak.jpg', 'class-mismatch': 'val',
        'empty-class': 'train/e', 'imbalance': 'train',
    }


def tree_digest(root: Path) -> Dict[str, str]:
    """{relative path: sha256} of every file under ``root``."""
    return {str(p.relative_to(root)):
            hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


BROKEN = ('zero-byte', 'unreadable', 'truncated', 'non-image', 'bomb')
ERRORS = BROKEN + ('leakage', 'class-mismatch', 'empty-class')


@pytest.fixture(scope='module')
def checked(tmp_path_factory):
    """One check.py run with --quarantine: (root, expected, report, log)."""
    base = tmp_path_factory.mktemp('check')
    root = base / 'data'
    expected = write_bad_tree(root)
    before = tree_digest(root)
    result = run([sys.executable, *CHECK, str(root), '--min-size', '32',
                  '--imbalance', '3', '--workers', '2', '--quarantine',
                  str(base / 'quarantine')], check=False)
    report = json.loads((root / 'check_report.json').read_text('utf-8'))
    return root, expected, report, result, before


def test_check_flags_every_kind_and_exits_non_zero(checked):
    root, expected, report, result, _ = checked
    assert result.returncode == 1, result.stdout
    for kind, path in expected.items():
        found = [f for f in report['findings'] if f['kind'] == kind]
        assert any(path in f['paths'] for f in found), (kind, found)
        severity = 'error' if kind in ERRORS else 'warning'
        assert severity in {f['severity'] for f in found}, (kind, found)
        assert kind in result.stdout
    # an image labelled as two classes is an error, a plain copy a warning
    conflict = [f for f in report['findings'] if f['kind'] == 'duplicate'
                and 'train/b/dup_other_class.jpg' in f['paths']]
    assert conflict[0]['severity'] == 'error'
    assert report['summary']['non-image'] == 2  # readme.txt: a warning
    assert report['counts']['train']['c'] == 7  # bomb left out
    assert (root / 'check_report.png').stat().st_size > 0
    for kind in BROKEN:  # each error line names the file
        assert expected[kind] in result.stdout


def test_quarantine_moves_broken_files_and_restore_puts_them_back(checked):
    root, expected, report, result, before = checked
    quarantine = root.parent / 'quarantine'
    manifest = json.loads(
        (quarantine / 'quarantine_manifest.json').read_text('utf-8'))
    moved = sorted(entry['path'] for entry in manifest['files'])
    assert moved == sorted(expected[kind] for kind in BROKEN)
    assert sorted(report['quarantined']) == moved
    for path in moved:
        assert not (root / path).exists()
        assert (quarantine / path).is_file()
    assert 'Moved 5 broken file(s)' in result.stdout
    after = tree_digest(root)
    assert set(before) - set(after) == set(moved)

    restored = run([sys.executable, *CHECK, '--restore', str(quarantine)])
    assert 'Restored 5 file(s)' in restored.stdout
    now = tree_digest(root)
    for path in moved:
        assert now[path] == before[path]
    assert not (quarantine / 'quarantine_manifest.json').exists()


def test_clean_dataset_passes_and_folder_layout_is_read(tmp_path):
    split = write_class_tree(tmp_path / 'split', ('a', 'b'),
                             {'train': 2, 'val': 1})
    report = check_dataset(str(split), min_size=32, workers=1,
                           progress=False)
    assert report.exit_code == 0 and not report.findings
    assert report.layout == 'split'
    assert report.counts == {'train': {'a': 2, 'b': 2},
                             'val': {'a': 1, 'b': 1}}
    folder = split / 'train'
    (folder / 'b' / '0.jpg').write_bytes(b'')
    report = check_dataset(str(folder), min_size=32, workers=1,
                           progress=False)
    assert report.layout == 'folder' and report.exit_code == 1
    assert [f.paths for f in report.findings] == [['b/0.jpg']]


def test_near_duplicates_across_splits_are_errors_or_warnings(tmp_path):
    from test_duplicates import scene
    from test_near_dup_wiring import photo  # texture: copies line up
    root = tmp_path / 'data'
    fillers = iter(range(20, 28))  # fixed scenes (hash() of str varies)
    for split in ('train', 'val'):
        for name in ('a', 'b'):
            (root / split / name).mkdir(parents=True)
            for i in range(2):
                scene(next(fillers)).save(root / split / name / f'{i}.png')
    photo(7, 1).resize((80, 80)).save(root / 'val' / 'a' / 'copy.jpg',
                                      quality=90)
    photo(7, 1).save(root / 'train' / 'a' / 'orig.png')
    scene(8).save(root / 'train' / 'a' / 'x.png')
    scene(8).crop((3, 3, 93, 93)).save(root / 'train' / 'b' / 'x_crop.png')
    report = check_dataset(str(root), min_size=32, workers=1,
                           progress=False)
    kinds = {f.kind: (f.severity, sorted(f.paths)) for f in report.findings}
    assert kinds['near-leakage'] == ('error', ['train/a/orig.png',
                                               'val/a/copy.jpg'])
    assert kinds['near-label-conflict'] == ('error', ['train/a/x.png',
                                                      'train/b/x_crop.png'])
    assert report.exit_code == 1 and len(report.near_groups) == 2
    warned = check_dataset(str(root), min_size=32, workers=1,
                           progress=False, near_severity='warning')
    assert warned.exit_code == 0
    off = check_dataset(str(root), min_size=32, workers=1, progress=False,
                        near_duplicates=False)
    assert not off.near_groups and off.exit_code == 0
    result = run([sys.executable, *CHECK, str(root), '--workers', '1',
                  '--min-size', '32', '--near-dups', 'warning'], check=False)
    assert result.returncode == 0 and 'near-leakage' in result.stdout
