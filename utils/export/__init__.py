"""Exporting models to the formats of :mod:`utils.formats`: the traced graphs and metadata
(:mod:`.graphs`), one writer per file kind (:mod:`.writers`) and the exporter that writes and
checks them (:mod:`.exporter`)."""
