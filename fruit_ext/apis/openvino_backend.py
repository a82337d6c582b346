"""OpenVINO as the Predictor's runtime: ``Predictor(..., backend='openvino')``.

:class:`OpenVINOSession` has the three methods of an onnxruntime
``InferenceSession`` the :class:`~fruit_ext.apis.predictor.Predictor` uses
(``run``, ``get_inputs``, ``get_modelmeta``), so everything else of the
Predictor (decoding, preprocessing, calibration, top-k) stays one code path.
It reads the fp32 or int8 (QDQ) ``.onnx`` files of ``export_onnx.py``
directly -- OpenVINO turns QDQ pairs into its own int8 kernels -- or the
OpenVINO IR (``.xml`` + ``.bin``) of ``tools/deploy/export_openvino.py``.
The exporter's metadata reaches OpenVINO as the model's ``framework``
runtime info (ONNX) or is written there (IR). Like ``predictor.py`` it
imports neither torch nor OpenMMLab: copy it next to ``predictor.py`` and
``image_core.py`` to run a model elsewhere (``pip install openvino``).
"""
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

#: runtime-info section holding the exporter's metadata
RT_SECTION = 'framework'
#: input shapes kept compiled at once (the Predictor's batches of one size)
MAX_SHAPES = 4


class _Named:
    """What ``get_inputs()`` / ``get_modelmeta()`` return (the parts used)."""

    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)


def metadata(model) -> Dict[str, str]:
    """The exporter's metadata of an OpenVINO model.

    Args:
        model: ``openvino.Model`` read from ONNX or IR.

    Returns:
        ``{key: JSON text}``, as onnxruntime's ``custom_metadata_map``.
    """
    if not model.has_rt_info([RT_SECTION]):
        return {}
    section = model.get_rt_info([RT_SECTION]).astype(dict)
    return {key: model.get_rt_info([RT_SECTION, key]).astype(str)
            for key in section}


class OpenVINOSession:
    """An OpenVINO compiled model behind onnxruntime's session interface.

    Args:
        model_file: ``.onnx`` (fp32 or QDQ int8) or OpenVINO ``.xml``.
        num_threads: CPU inference threads; OpenVINO's default when None.
        device: OpenVINO device name.
        precision: OpenVINO's inference precision for the float parts:
            'f32' (the model's own), or 'bf16' / 'f16' where the device
            has them (faster, scores differ by about 1e-3).

    Raises:
        ImportError: OpenVINO is not installed (the message says how).
        FileNotFoundError: ``model_file`` does not exist.
    """

    def __init__(self, model_file: Union[str, os.PathLike],
                 num_threads: Optional[int] = None,
                 device: str = 'CPU', precision: str = 'f32') -> None:
        try:
            import openvino as ov
        except ImportError:
            raise ImportError(
                "backend='openvino' needs OpenVINO: pip install -r "
                "requirements/deploy.txt (or pip install openvino), or use "
                "backend='onnxruntime'.") from None
        if not os.path.isfile(model_file):
            raise FileNotFoundError(f'model not found: {model_file}')
        self.core, self.device = ov.Core(), device
        self.model = self.core.read_model(os.fspath(model_file))
        # f32: on CPUs with native bfloat16 OpenVINO would otherwise run
        # the float parts in bf16 (scores off by ~1e-3 from the file's)
        # no pinning: on a shared host the pinned core is often busy (batch-1
        # throughput fell 3-10x in a check on 2 loaded cores)
        self.config = {'PERFORMANCE_HINT': 'LATENCY',
                       'INFERENCE_PRECISION_HINT': precision,
                       'ENABLE_CPU_PINNING': False}
        if num_threads:
            self.config['INFERENCE_NUM_THREADS'] = int(num_threads)
        self._compiled: Dict[tuple, tuple] = {}
        self._meta = metadata(self.model)

    def get_inputs(self) -> List[_Named]:
        """The model inputs (``.name``)."""
        return [_Named(name=port.get_any_name())
                for port in self.model.inputs]

    def get_modelmeta(self) -> _Named:
        """The metadata (``.custom_metadata_map``)."""
        return _Named(custom_metadata_map=dict(self._meta))

    def run(self, output_names: Optional[Sequence[str]],
            feed: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """Infer one batch, as ``InferenceSession.run``.

        Args:
            output_names: None (all outputs) or output names.
            feed: ``{input name: array}``.

        Returns:
            The outputs, in order.
        """
        compiled, request = self._for_shapes(feed)
        results = request.infer(feed)
        outputs = compiled.outputs if output_names is None else [
            compiled.output(name) for name in output_names]
        return [np.array(results[port]) for port in outputs]

    def _for_shapes(self, feed: Dict[str, np.ndarray]) -> tuple:
        """The model compiled for these input shapes (a few are kept).

        Static shapes, not the exported dynamic ones: OpenVINO 2026.4 ran
        the int8 (QDQ) EfficientNet-Lite0 wrongly with dynamic height and
        width (its TF-style padding is computed from them; top-1 agreed
        with fp32 on 8 % of test images) and right once they were fixed.
        """
        key = tuple((name, tuple(value.shape))
                    for name, value in sorted(feed.items()))
        if key not in self._compiled:
            if len(self._compiled) >= MAX_SHAPES:
                self._compiled.pop(next(iter(self._compiled)))
            model = self.model.clone()
            model.reshape({name: list(shape) for name, shape in key})
            compiled = self.core.compile_model(model, self.device,
                                               self.config)
            self._compiled[key] = (compiled, compiled.create_infer_request())
        return self._compiled[key]


def save_ir(onnx_file: str, xml_file: str, compress_to_fp16: bool = False
            ) -> str:
    """Convert an exported ``.onnx`` to OpenVINO IR, metadata included.

    Args:
        onnx_file: fp32 or int8 (QDQ) ``.onnx`` from ``export_onnx.py``.
        xml_file: ``.xml`` to write (the weights go to the ``.bin`` beside).
        compress_to_fp16: Store fp32 weights as fp16 (OpenVINO's default
            for IR; off here so fp32 results match the ONNX model).

    Returns:
        ``xml_file``.
    """
    import openvino as ov
    model = ov.convert_model(onnx_file)
    for key, value in metadata(ov.Core().read_model(onnx_file)).items():
        model.set_rt_info(value, [RT_SECTION, key])
    ov.save_model(model, xml_file, compress_to_fp16=compress_to_fp16)
    return xml_file


def same_top1(want: Dict, got: Dict) -> bool:
    """Whether two runtimes give the same answer for one image.

    The same top-1 label, or a near-tie: ``want``'s scores of the two
    labels differ by no more than the largest score difference between the
    runtimes on this image (an int8 model with two almost equal classes may
    rank them either way).

    Args:
        want: The reference result (``pred_label``, ``pred_scores``).
        got: The other runtime's result for the same image.

    Returns:
        True when the answers agree (or tie within the runtimes' noise).
    """
    if want['pred_label'] == got['pred_label']:
        return True
    scores = np.asarray(want['pred_scores'])
    gap = scores[want['pred_label']] - scores[got['pred_label']]
    noise = np.abs(scores - np.asarray(got['pred_scores'])).max()
    return bool(gap <= noise)
