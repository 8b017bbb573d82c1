"""Inference: the ``Detector`` (``utils.inference.detector``, TensorFlow), post-processing
(decoding and NMS), input sources, drawing, and the jobs predict.py runs."""
