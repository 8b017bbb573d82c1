"""Evaluation: VOC AP (``metrics``), COCO mAP (``coco``, pycocotools), ``map_out`` text files,
plots, and ``evaluate``, which runs a detector or reads files and writes the reports."""
