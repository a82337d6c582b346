"""Install fruit_ext (``pip install -e .``); see tools/setup_env.sh for the
whole environment, mmcv and openmim included."""
import os.path as osp
from typing import List

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def parse_requirements(name: str) -> List[str]:
    """Read ``requirements/<name>.txt``, skipping comments and blank lines.

    Args:
        name: File stem under ``requirements/``.

    Returns:
        Requirement strings.
    """
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as file:
        lines = (line.split('#', 1)[0].strip() for line in file)
        return [line for line in lines if line]


def get_version() -> str:
    """The version string from ``fruit_ext/version.py``."""
    namespace: dict = {}
    with open(osp.join(HERE, 'fruit_ext', 'version.py')) as file:
        exec(file.read(), namespace)
    return namespace['__version__']


setup(
    name='fruit_ext',
    version=get_version(),
    description='Fine-tune image classifiers on your own photos with '
    'mmpretrain, on today\'s PyTorch',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    # The model index and the configs it names (.mim/configs links to
    # configs/), so model names resolve in wheels too.
    package_data={'fruit_ext': ['.mim/model-index.yml',
                                '.mim/configs/**/*.py',
                                '.mim/configs/**/*.yml']},
    python_requires='>=3.9',
    # mmcv is deliberately not here: mmcv-lite and a full mmcv both provide
    # the `mmcv` module, so pick one with the extra `lite` (or
    # tools/setup_env.sh).
    install_requires=parse_requirements('runtime'),
    extras_require={
        'lite': parse_requirements('mminstall'),
        'tests': parse_requirements('tests'),
        # mmpretrain's vis_cam, vis_tsne and mmpretrain2torchserve
        'analysis': parse_requirements('analysis'),
        # near-duplicates and label issues (tools/dataset, tools/analysis)
        'data': parse_requirements('data'),
        # tools/demo/serve.py: web page and HTTP API
        'demo': parse_requirements('demo'),
        # OpenVINO backend of the Predictor
        'deploy': parse_requirements('deploy'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)
