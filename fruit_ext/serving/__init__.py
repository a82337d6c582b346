"""Serve a trained model: a Gradio page and a JSON API in one process.

``tools/demo/serve.py`` builds the app from these modules:

- ``core``: the package's decoder (``apis/image_core.py``) and ONNX
  ``Predictor``, also when this package is loaded without torch;
- ``limits``: upload checks (bytes, pixels, decodability) -> HTTP 4xx;
- ``backends``: PyTorch (:class:`BatchInferencer`) and ONNX
  (:class:`Predictor`) behind one ``predict(images)`` with plain dict results;
- ``batching``: requests that arrive together run as one batch in one
  inference thread, off the event loop;
- ``api``: ``POST /api/predict``, ``GET /api/health``;
- ``page``: the Gradio page; ``app``: both on one FastAPI app.

Nothing here imports torch at module level, so ``serve.py --onnx`` can load
this folder as a standalone package and run with onnxruntime alone.
"""
