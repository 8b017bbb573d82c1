"""Everything around the model: images, boxes, detection, datasets, metrics, plots."""
