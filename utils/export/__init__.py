"""Exporting models to SavedModel, TFLite and ONNX (:mod:`utils.export.exporter`) and the metadata
they carry (:mod:`utils.export.metadata`)."""
