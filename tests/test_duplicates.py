"""Near-duplicates: hashes, multi-index matching, groups, the tool."""
import csv
import io
import sys
from functools import partial
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from conftest import run
from fruit_ext.datasets.duplicates import (ALIGNED_THRESHOLD, BOXES,
                                           DEFAULT_THRESHOLD,
                                           _bits_to_int, connected_groups,
                                           cosine_pairs, crop_boxes,
                                           find_duplicates, hash_rgb,
                                           near_pairs)


def scene(seed: int, size: int = 96, cells: int = 6) -> Image.Image:
    """A smooth random colour field: a different 'photo' per seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (cells, cells, 3)).astype(np.uint8)
    return Image.fromarray(small).resize((size, size), Image.BICUBIC)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, 'JPEG', quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert('RGB')


def test_hashes_are_imagehash_of_each_crop():
    rgb = np.asarray(scene(0))
    hashes = hash_rgb(rgb)
    grey = Image.fromarray(rgb).convert('L').resize((96, 96), Image.LANCZOS)
    assert hashes.shape == (len(BOXES), 2) and BOXES[0] == (0, 0, 1, 1)
    for row in (0, 7, len(BOXES) - 1):
        crop = grey.crop(tuple(round(v * 96) for v in BOXES[row]))
        assert hashes[row, 0] == _bits_to_int(imagehash.phash(crop).hash)
        assert hashes[row, 1] == _bits_to_int(imagehash.dhash(crop).hash)


def test_denser_crop_grid_is_imagehash_and_holds_the_default_grid():
    rgb = np.asarray(scene(0))
    dense, boxes = hash_rgb(rgb, steps=5), crop_boxes(5)
    grey = Image.fromarray(rgb).convert('L').resize((96, 96), Image.LANCZOS)
    assert dense.shape == (121, 2) and len(boxes) == 121
    crop = grey.crop(tuple(round(v * 96) for v in boxes[60]))
    assert dense[60, 0] == _bits_to_int(imagehash.phash(crop).hash)
    # every default box is in the dense grid, with the same hashes
    pixels = [tuple(round(v * 96) for v in box) for box in boxes]
    rows = [pixels.index(tuple(round(v * 96) for v in box)) for box in BOXES]
    assert (dense[rows] == hash_rgb(rgb)).all()
    with pytest.raises(ValueError, match='crop steps'):
        crop_boxes(1)


def _brute_force(hashes: np.ndarray, threshold: int) -> set:
    """Every pair near_pairs must return, by comparing all of them."""
    count = lambda x: np.bitwise_count(x).astype(int)  # noqa: E731
    found = set()
    for i in range(len(hashes)):
        for j in range(len(hashes)):
            if i != j and ((count(hashes[i, 0, 0] ^ hashes[j, :, 0]) <=
                            threshold) & (count(hashes[i, 0, 1] ^
                                                hashes[j, :, 1]) <=
                                          threshold)).any():
                found.add((min(i, j), max(i, j)))
    return found


@pytest.mark.parametrize('threshold', [0, 4, 7])
def test_multi_index_matching_finds_every_pair_brute_force_finds(threshold):
    rng = np.random.default_rng(threshold)
    base = rng.integers(0, 2**63, (60, len(BOXES), 2), dtype=np.uint64)
    near = base[:20].copy()  # copies with up to threshold + 1 bits flipped
    for row in near:
        for column in range(2):
            bits = rng.choice(64, rng.integers(0, threshold + 2), False)
            row[0, column] ^= np.uint64(sum(1 << int(b) for b in bits))
    hashes = np.concatenate([base, near])
    pairs, dist = near_pairs(hashes, threshold)
    assert {tuple(p) for p in pairs.tolist()} == _brute_force(hashes,
                                                              threshold)
    assert (dist <= threshold).all() and (pairs[:, 0] < pairs[:, 1]).all()


def test_threshold_out_of_range_is_refused():
    with pytest.raises(ValueError, match='0-64 bits'):
        near_pairs(np.zeros((2, len(BOXES), 2), np.uint64), 65)


def test_groups_are_connected_components():
    pairs = np.array([[0, 1], [1, 2], [5, 6]])
    assert connected_groups(8, pairs) == [[0, 1, 2], [5, 6]]
    assert connected_groups(3, np.zeros((0, 2), int)) == []


def test_cosine_pairs_match_the_full_matrix():
    feats = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    feats[10] = feats[3] * 2 + 0.01  # same direction
    pairs, sims = cosine_pairs(feats, 0.9, block=7)
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    full = unit @ unit.T
    expected = {(i, j) for i in range(50) for j in range(i + 1, 50)
                if full[i, j] >= 0.9}
    assert {tuple(p) for p in pairs.tolist()} == expected
    assert (3, 10) in expected and np.allclose(sims, full[pairs[:, 0],
                                                          pairs[:, 1]])


def write_planted(root: Path) -> dict:
    """Six scenes in train, edited copies of three in val (one relabelled).

    The scenes have 12x12 colour cells: the JPEG copy of a smoother one
    (6x6) falls below the refined aligned check (docs/data.md)."""
    for split in ('train', 'val'):
        for label in ('a', 'b'):
            (root / split / label).mkdir(parents=True)
    photo = partial(scene, cells=12)
    for seed in range(6):
        photo(seed).save(root / 'train' / 'ab'[seed % 2] / f'{seed}.png')
    for seed in range(6, 9):
        photo(seed).save(root / 'val' / 'ab'[seed % 2] / f'{seed}.png')
    jpeg(photo(0).resize((70, 70)), 50).save(root / 'val/a/resized.jpg')
    photo(2).crop((4, 3, 92, 93)).save(root / 'val/a/cropped.png')
    ImageEnhance.Brightness(photo(1)).enhance(1.15).save(
        root / 'val/a/bright_relabelled.png')  # scene 1 is in train/b
    return {frozenset({'train/a/0.png', 'val/a/resized.jpg'}),
            frozenset({'train/a/2.png', 'val/a/cropped.png'}),
            frozenset({'train/b/1.png', 'val/a/bright_relabelled.png'})}


def test_find_duplicates_groups_planted_copies(tmp_path):
    expected = write_planted(tmp_path / 'data')
    report = find_duplicates(str(tmp_path / 'data'), progress=False)
    found = {frozenset(report.items[i].path for i in g)
             for g in report.groups}
    assert found == expected
    assert len(report.leaking) == 3 and len(report.mislabelled) == 1
    assert report.threshold == ALIGNED_THRESHOLD  # with the aligned check
    plain = find_duplicates(str(tmp_path / 'data'), DEFAULT_THRESHOLD,
                            progress=False, align=None)
    assert {frozenset(plain.items[i].path for i in g)
            for g in plain.groups} == expected
    coarse = find_duplicates(str(tmp_path / 'data'), progress=False,
                             crop_steps=3)  # the default is the 121-box grid
    assert {frozenset(coarse.items[i].path for i in g)
            for g in coarse.groups} == expected


def test_tool_writes_csv_and_sheets_and_exits_one(tmp_path):
    write_planted(tmp_path / 'data')
    (tmp_path / 'data' / 'val' / 'b' / 'broken.jpg').write_bytes(b'\xff\xd8')
    out = tmp_path / 'out' / 'dups.csv'
    result = run([sys.executable, 'tools/dataset/find_duplicates.py',
                  str(tmp_path / 'data'), '--out', str(out), '--workers',
                  '1'], check=False)
    assert result.returncode == 1, result.stdout
    rows = list(csv.DictReader(out.open(encoding='utf-8')))
    assert {'group', 'path', 'split', 'class'} <= set(rows[0])
    assert len(rows) == 6 and {r['group'] for r in rows} == {'0', '1', '2'}
    assert 'val/b/broken.jpg' in result.stdout  # said, not hidden
    sheets = sorted((out.parent / 'duplicates_sheets').glob('*.png'))
    assert len(sheets) == 3
    assert np.asarray(Image.open(sheets[0])).std() > 10


def test_confirmation_drops_look_alikes_and_keeps_copies(tmp_path):
    """Same coarse layout, different fine texture: a look-alike, not a copy."""
    from fruit_ext.datasets.duplicates import confirm_pairs

    def textured(layout: int, texture: int) -> Image.Image:
        fine = np.random.default_rng(texture).integers(0, 2, (48, 48, 1))
        detail = np.kron(fine, np.ones((2, 2, 1))) * 20 - 10
        return Image.fromarray((np.asarray(scene(layout), float) + detail)
                               .clip(0, 255).astype(np.uint8))
    textured(0, 1).save(tmp_path / 'a.png')
    jpeg(textured(0, 1).resize((80, 80)), 80).save(tmp_path / 'copy.jpg')
    textured(0, 2).save(tmp_path / 'look_alike.png')
    paths = [str(tmp_path / n) for n in ('a.png', 'copy.jpg',
                                         'look_alike.png')]
    hashes = np.stack([hash_rgb(np.asarray(Image.open(p).convert('RGB')))
                       for p in paths])
    pairs, _ = near_pairs(hashes, 8)  # the 64-bit hashes match both
    assert {(0, 1), (0, 2)} <= {tuple(p) for p in pairs.tolist()}
    keep = confirm_pairs(paths, np.array([[0, 1], [0, 2]]))
    assert keep.tolist() == [True, False]


def test_aligned_correlation_keeps_crops_and_drops_look_alikes(tmp_path):
    """A cropped, shrunk, brightened JPEG copy lines up inside its source;
    the same layout with other fine texture (a look-alike) does not."""
    from fruit_ext.datasets.health.aligned import (DEFAULT_MIN_CORRELATION,
                                                   aligned_scores)

    def textured(texture: int) -> Image.Image:
        fine = np.random.default_rng(texture).integers(0, 2, (16, 16, 1))
        detail = np.kron(fine, np.ones((8, 8, 1))) * 40 - 20
        return Image.fromarray((np.asarray(scene(3, 128), float) + detail)
                               .clip(0, 255).astype(np.uint8))
    source = textured(1)
    source.save(tmp_path / 'source.png')
    copy = ImageEnhance.Brightness(source.crop((9, 2, 124, 120))).enhance(
        0.87).resize((80, 82), Image.BILINEAR)
    jpeg(copy, 70).save(tmp_path / 'copy.jpg')
    textured(2).save(tmp_path / 'other.png')
    (tmp_path / 'broken.jpg').write_bytes(b'\xff\xd8')
    paths = [str(tmp_path / n) for n in ('source.png', 'copy.jpg',
                                         'other.png', 'broken.jpg')]
    scores = aligned_scores(paths, np.array([[0, 1], [1, 0], [0, 2],
                                             [0, 3]]))
    assert scores[0] > DEFAULT_MIN_CORRELATION, scores
    assert scores[1] == scores[0], scores  # either may be the crop
    assert scores[2] < 0.5, scores
    assert scores[3] == -1  # a broken file confirms nothing


def test_refined_alignment_keeps_photo_copies_drops_look_alikes(tmp_path):
    """On a real photo: a cropped, shrunk, brightened JPEG copy passes the
    refined check and scores higher refined than on the grid; a picture
    with the photo's layout but other detail, and one with its detail
    moved by under a pixel (no affine map explains it: a look-alike, not
    a copy), pass the hashes and fail the refined check; the second
    passes the grid-only check (0.895), which is why refinement exists."""
    import cv2

    from fruit_ext.datasets.health.aligned import (DEFAULT_MIN_CORRELATION,
                                                   REFINE_FROM,
                                                   aligned_scores)
    from fruit_ext.datasets.health.hashes import hash_file
    sys.path.insert(0, str(Path(__file__).parents[1] / 'tools' /
                           'benchmark'))
    from throughput_data import wheel_photos
    photos = wheel_photos()  # the set-up installs both wheels
    assert len(photos) >= 2, 'matplotlib/scikit-learn sample photos missing'
    source, other = (np.asarray(Image.open(path).convert('RGB').resize(
        (128, 150), Image.LANCZOS), np.float32) for path in photos[:2])
    copy = Image.fromarray(source.astype(np.uint8)).crop((6, 4, 122, 144))
    copy = ImageEnhance.Brightness(copy).enhance(1.12).resize(
        (70, 84), Image.BILINEAR)
    coarse = cv2.GaussianBlur(source, (0, 0), 3)
    other_detail = coarse + other - cv2.GaussianBlur(other, (0, 0), 3)
    rows, cols = np.mgrid[0:150, 0:128].astype(np.float32)
    moved = cv2.remap(source, cols + 0.7 * np.sin(rows / 150 * 3 * np.pi),
                      rows + 0.7 * np.sin(cols / 128 * 3 * np.pi),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    names = ['source.png', 'copy.jpg', 'other_detail.png', 'moved.png']
    for name, picture in zip(names, [source, jpeg(copy, 60), other_detail,
                                     moved]):
        Image.fromarray(np.asarray(picture).clip(0, 255).astype(
            np.uint8)).save(tmp_path / name)
    paths = [str(tmp_path / name) for name in names]
    hashes = np.array([hash_file(path, steps=5) for path in paths],
                      dtype=np.uint64)
    pairs = np.array([[0, 1], [0, 2], [0, 3]])
    found = near_pairs(hashes, ALIGNED_THRESHOLD)[0].tolist()
    assert all(pair in found for pair in pairs.tolist()), found
    assert REFINE_FROM is not None
    refined = aligned_scores(paths, pairs)
    grid = aligned_scores(paths, pairs, refine_from=None)
    assert refined[0] >= DEFAULT_MIN_CORRELATION > refined[1:].max(), refined
    assert refined[0] > grid[0] and grid[2] >= 0.895, grid


def test_tool_align_by_default_and_no_align(tmp_path):
    expected = write_planted(tmp_path / 'data')
    for extra in ([], ['--no-align']):
        out = tmp_path / f'dups{len(extra)}.csv'
        result = run([sys.executable, 'tools/dataset/find_duplicates.py',
                      str(tmp_path / 'data'), '--out', str(out), '--workers',
                      '1', *extra], check=False)
        assert result.returncode == 1, result.stdout
        groups = {}
        for row in csv.DictReader(out.open(encoding='utf-8')):
            groups.setdefault(row['group'], set()).add(row['path'])
        assert {frozenset(g) for g in groups.values()} == expected
    bad = run([sys.executable, 'tools/dataset/find_duplicates.py',
               str(tmp_path / 'data'), '--align', '2'], check=False)
    assert bad.returncode == 2 and '--align 2' in bad.stdout
