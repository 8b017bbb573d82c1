"""What was wrong with a ``map_out`` folder or a dataset's detections: malformed lines, missing or
orphan files, unknown classes, images without ground truth. Collected while reading, reported
per file, never a reason to stop."""

import collections
import dataclasses


@dataclasses.dataclass
class MapOutReport:
    """What reading a map_out folder (or writing one from a dataset) found."""

    malformed: list = dataclasses.field(default_factory=list)  # ("file:line", message)
    unreadable: list = dataclasses.field(default_factory=list)  # (file, message)
    missing_detections: list = dataclasses.field(default_factory=list)  # image ids
    orphan_detections: list = dataclasses.field(default_factory=list)  # image ids without GT file
    no_ground_truth: list = dataclasses.field(default_factory=list)  # image ids with no object
    unknown_gt: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    unknown_det: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    unreadable_images: list = dataclasses.field(default_factory=list)  # (path, message)

    def lines(self, max_listed=10):
        """Readable one-line messages, each naming the problem; long lists are shortened."""
        out = []
        for where, message in self.unreadable[:max_listed]:
            out.append(f"{where}: {message}; file skipped")
        if len(self.unreadable) > max_listed:
            out.append(f"... and {len(self.unreadable) - max_listed} more unreadable files")
        for _path, message in self.unreadable_images[:max_listed]:
            out.append(f"{message}; image left out of the evaluation")
        if len(self.unreadable_images) > max_listed:
            out.append(f"... and {len(self.unreadable_images) - max_listed} more unreadable images")
        for where, message in self.malformed[:max_listed]:
            out.append(f"{where}: {message}; line skipped")
        if len(self.malformed) > max_listed:
            out.append(f"... and {len(self.malformed) - max_listed} more malformed lines skipped")
        if self.missing_detections:
            out.append(
                f"{_count(self.missing_detections, 'image has', 'images have')} no "
                f"detection file (counted as no detections), e.g. "
                f"{_examples(self.missing_detections)}"
            )
        if self.orphan_detections:
            out.append(
                f"{_count(self.orphan_detections, 'detection file has', 'detection files have')}"
                f" no ground-truth file and {'was' if len(self.orphan_detections) == 1 else 'were'}"
                f" ignored, e.g. {_examples(self.orphan_detections)}"
            )
        for label, counter in (
            ("ground-truth objects", self.unknown_gt),
            ("detections", self.unknown_det),
        ):
            if counter:
                classes = ", ".join(f"{name!r} x{n}" for name, n in counter.most_common())
                total = sum(counter.values())
                out.append(
                    f"{total} {label if total > 1 else label[:-1]} of classes not in the "
                    f"class list {'were' if total > 1 else 'was'} ignored: {classes}"
                )
        if self.no_ground_truth:
            out.append(
                f"{_count(self.no_ground_truth, 'image has', 'images have')} no ground-truth "
                f"object (detections there are false positives), e.g. "
                f"{_examples(self.no_ground_truth)}"
            )
        return out

    def to_dict(self):
        return {
            "malformed_lines": [f"{w}: {m}" for w, m in self.malformed],
            "unreadable_files": [f"{w}: {m}" for w, m in self.unreadable],
            "unreadable_images": [m for _, m in self.unreadable_images],
            "images_without_detection_file": list(self.missing_detections),
            "detection_files_without_ground_truth": list(self.orphan_detections),
            "images_without_ground_truth": list(self.no_ground_truth),
            "unknown_classes_ground_truth": dict(self.unknown_gt),
            "unknown_classes_detections": dict(self.unknown_det),
        }


def _count(items, singular, plural):
    return f"{len(items)} {singular if len(items) == 1 else plural}"


def _examples(items, count=3):
    shown = ", ".join(str(i) for i in items[:count])
    return shown + (", ..." if len(items) > count else "")
