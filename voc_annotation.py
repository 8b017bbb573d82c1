"""Check a VOC-format dataset, write its split files when missing and count its objects per class.

Reads every annotation of the folder once, reports each problem with the file's name and goes
on, then prints the per-class object counts of each split. Difficult objects (<difficult>1) are
counted but kept out of training targets, as the reference implementation does.
"""

import os
import re
import sys

from utils import files
from utils.cli import (
    ArgumentParser,
    check_output_path,
    check_split_flags,
    run_cli,
)
from utils.config import load_class_names
from utils.data import (
    SPLIT_NAMES,
    annotation_line,
    existing_splits,
    load_voc_folder,
    report_duplicates,
    resolve_voc_root,
    split_path,
    unique_ids,
    write_voc_splits,
)
from utils.options import add_options

MODE = "annotate"


def build_parser():
    parser = ArgumentParser(
        description=__doc__,
        epilog="Exit status: 0 when the dataset could be read (per-file problems are only "
        "reported), 1 when no usable image was found, 2 when the folder, the class list "
        "or a flag is wrong.",
    )
    add_options(
        parser,
        (
            "data",
            "classes",
            "trainval_percent",
            "train_percent",
            "seed",
            "overwrite_splits",
            "write_lines",
            "no_check_images",
            "max_problems",
            "max_pixels",
        ),
        MODE,
        required=("data",),
    )
    return parser


def count_table(class_names, split_samples):
    """Text table: one row per class, one column per split, 'objects (difficult)' in each cell."""
    splits = list(split_samples)
    cells = {}
    for split, samples in split_samples.items():
        for name in class_names:
            cells[name, split] = [0, 0]
        cells["(images)", split] = [len(samples), 0]
        for sample in samples:
            for class_id, hard in zip(sample.class_ids.tolist(), sample.difficult.tolist()):
                cell = cells[class_names[class_id], split]
                cell[0] += 1
                cell[1] += int(hard)
    width = max(len(name) for name in list(class_names) + ["(images)", "class"])
    col = max(12, *(len(s) for s in splits))
    lines = [f"{'class':<{width}}" + "".join(f"  {s:>{col}}" for s in splits)]
    for name in list(class_names) + ["(images)"]:
        row = []
        for split in splits:
            total, hard = cells[name, split]
            row.append(f"{total} ({hard})" if hard else str(total))
        lines.append(f"{name:<{width}}" + "".join(f"  {cell:>{col}}" for cell in row))
    return "\n".join(lines)


def lines_prefix(voc_root):
    """'2007' for a folder named VOC2007 (the reference's 2007_train.txt), else the folder name."""
    name = os.path.basename(os.path.normpath(voc_root))
    match = re.fullmatch(r"VOC(\d{4})", name)
    return match.group(1) if match else name


def write_annotation_lines(out_dir, voc_root, split_samples):
    """Write <prefix>_<split>.txt lists in the reference's format; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    prefix = lines_prefix(voc_root)
    written = []
    for split, samples in split_samples.items():
        path = os.path.join(out_dir, f"{prefix}_{split}.txt")
        files.write_text(path, "".join(annotation_line(s) + "\n" for s in samples))
        written.append(path)
    if any(" " in s.image_path for samples in split_samples.values() for s in samples):
        print(
            "warning: some image paths contain spaces, "
            "which the space-separated line format cannot hold",
            file=sys.stderr,
        )
    return written


def run(args):
    """Everything voc_annotation.py does, given parsed arguments; returns the exit status."""
    check_split_flags(args)
    class_names = load_class_names(args.classes)
    voc_root = resolve_voc_root(args.data)
    had_splits = bool(existing_splits(voc_root))
    if args.overwrite_splits or not had_splits:  # the split files will be written
        split_dir = os.path.dirname(split_path(voc_root, "train"))
        check_output_path(
            "--data", split_dir, "folder", label=f"--data {args.data}: split files in {split_dir}"
        )
    splits = write_voc_splits(
        voc_root,
        args.trainval_percent,
        args.train_percent,
        args.seed,
        overwrite=args.overwrite_splits,
    )
    samples, report = load_voc_folder(voc_root, class_names, check_images=not args.no_check_images)

    if had_splits and not args.overwrite_splits:
        print(
            f"kept the existing split files in {os.path.dirname(split_path(voc_root, 'train'))}: "
            + ", ".join(f"{s} ({len(ids)})" for s, ids in splits.items())
        )
    else:
        print(
            f"wrote split files (seed {args.seed}): "
            + ", ".join(f"{s} ({len(ids)})" for s, ids in splits.items())
        )

    by_id = {s.image_id: s for s in samples}
    split_samples = {}
    for split in SPLIT_NAMES:
        if split in splits:
            ids, duplicates = unique_ids(splits[split])
            report_duplicates(report, split, duplicates)
            split_samples[split] = [by_id[i] for i in ids if i in by_id]
            for image_id in ids:
                xml_path = os.path.join(voc_root, "Annotations", image_id + ".xml")
                if image_id not in by_id and not os.path.isfile(xml_path):
                    report.add_problem(
                        f"{split}.txt",
                        f"lists {image_id}, which has no annotation file",
                        "missing annotation",
                    )

    print(
        f"\n{voc_root}: {len(samples)} usable images of "
        f"{len(samples) + report.num_skipped} annotations"
    )
    print(
        "objects per class and split (difficult ones in brackets; they are not training targets):"
    )
    print(count_table(class_names, split_samples))
    print()
    print(
        report.format(
            max_problems=None if args.max_problems == 0 else args.max_problems, counts=False
        )
    )
    train = split_samples.get("train")
    if train is not None and not any(len(s.boxes) for s in train):
        print("warning: the train split has no objects of the listed classes", file=sys.stderr)

    if args.write_lines:
        for path in write_annotation_lines(args.write_lines, voc_root, split_samples):
            print(f"wrote {path}")
    if not samples:
        print(f"error: no usable image in {voc_root}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    return run_cli(run, build_parser(), argv, quiet_tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
