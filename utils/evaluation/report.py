"""What an evaluation leaves behind: ``results.json`` and its readable form ``results.txt``, the
text files it evaluated, COCO's json files and the plots."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from utils import files
from utils.evaluation import map_io
from utils.evaluation.metrics import EvalData

# A folder to write to.
StrPath = str | os.PathLike[str]


def write_outputs(
    out_dir: StrPath,
    data: EvalData,
    results: dict[str, Any],
    coco: dict | None,
    plot_from: dict[str, Any] | None,
    write_txt: bool,
) -> None:
    """results.json and .txt, the map_out text files, COCO's json and the plots."""
    os.makedirs(out_dir, exist_ok=True)
    if write_txt:
        map_io.write_map_out(out_dir, data)
    if coco is not None:
        _write_coco_json(out_dir, coco)
    files.write_json(os.path.join(out_dir, "results.json"), results)
    files.write_text(os.path.join(out_dir, "results.txt"), format_results(results) + "\n")
    if plot_from:
        write_plots(plot_from, out_dir, float(results["settings"]["score_threshold"]))


def _write_coco_json(out_dir: StrPath, coco: Mapping[str, Any]) -> None:
    """The COCO files pycocotools evaluated, so users can feed them to other tools."""
    folder = os.path.join(out_dir, "coco_eval")
    os.makedirs(folder, exist_ok=True)
    files.write_json(os.path.join(folder, "instances_gt.json"), coco["gt"])
    files.write_json(os.path.join(folder, "instances_dr.json"), coco["detections"])


def write_plots(
    voc_raw: Mapping[str, Mapping[str, Any]], out_dir: StrPath, score_threshold: float
) -> None:
    """PR curve per class (a line per IoU) and an AP bar chart per IoU threshold."""
    from utils.evaluation.plots import plot_ap_bars, plot_pr_curve, safe_file_name

    keys = list(voc_raw)
    first = voc_raw[keys[0]]
    for index, cls in enumerate(first["classes"]):
        if cls.num_gt == 0:
            continue
        curves = []
        for key in keys:
            c = voc_raw[key]["classes"][index]
            point = (c.recall_at, c.precision_at) if np.any(c.scores >= score_threshold) else None
            curves.append((key, c.recall, c.precision, c.ap, point))
        plot_pr_curve(
            curves,
            cls.name,
            os.path.join(out_dir, "pr_curves", safe_file_name(cls.name) + ".png"),
            score_threshold=score_threshold,
        )
    for key in keys:
        ap = {c.name: c.ap for c in voc_raw[key]["classes"] if c.num_gt > 0}
        if ap:
            plot_ap_bars(
                ap,
                voc_raw[key]["mAP"],
                os.path.join(out_dir, f"ap_per_class_iou{key}.png"),
                title=f"AP@{key} per class",
            )


def _size_band(band: str, value: Mapping[str, Any]) -> str:
    ap = "-" if value["mAP"] is None else f"{value['mAP'] * 100:.2f}%"
    return f"{band} {ap} ({value['num_gt']} objects)"


def format_results(results: Mapping[str, Any]) -> str:
    """results.json as readable text: VOC table per IoU, COCO statistics, input problems."""
    lines = [
        (
            f"{results['num_images']} images, "
            f"{sum(results['num_ground_truth'].values())} ground-truth objects "
            f"(+{sum(results['num_difficult'].values())} difficult, ignored), "
            f"{sum(results['num_detections'].values())} detections"
        )
    ]
    settings = results["settings"]
    names = results["classes"]
    width = max([len("class")] + [len(n) for n in names])
    for key, voc in results.get("voc", {}).items():
        lines.append("")
        lines.append(
            f"VOC mAP@{key} = {voc['mAP'] * 100:.2f}%  ({settings['ap_interpolation']} AP, "
            f"{len(voc['ap'])} classes with ground truth; P/R/F1 at score >= "
            f"{settings['score_threshold']:g})"
        )
        lines.append(
            f"  {'class':<{width}}  {'AP':>7}  {'P':>7}  {'R':>7}  {'F1':>5}  "
            f"{'GT':>6}  {'dets':>7}  {'TP':>6}  {'FP':>7}"
        )
        for name in names:
            gt = results["num_ground_truth"][name]
            dets = results["num_detections"][name]
            if name in voc["ap"]:
                lines.append(
                    f"  {name:<{width}}  {voc['ap'][name] * 100:6.2f}%  "
                    f"{voc['precision'][name] * 100:6.2f}%  {voc['recall'][name] * 100:6.2f}%  "
                    f"{voc['f1'][name]:5.2f}  {gt:>6}  {dets:>7}  {voc['tp'][name]:>6}  "
                    f"{voc['fp'][name]:>7}"
                )
            elif dets:
                lines.append(
                    f"  {name:<{width}}  {'-':>7}  {'':>7}  {'':>7}  {'':>5}  {gt:>6}  "
                    f"{dets:>7}  {'':>6}  {voc['fp'][name]:>7}   (no ground truth)"
                )
    if "voc_sizes" in results:
        bands = ", ".join(_size_band(band, v) for band, v in results["voc_sizes"].items())
        lines.append(f"VOC mAP@0.5 by object size (COCO's areas: 32x32, 96x96): {bands}")
    if "voc_mean_mAP" in results:
        lines.append("")
        keys = ", ".join(results["voc"])
        lines.append(f"VOC mAP averaged over IoU {keys}: {results['voc_mean_mAP'] * 100:.2f}%")
    if "coco" in results:
        coco = results["coco"]
        lines.append("")
        lines.append(
            "COCO (pycocotools, bbox)"
            + (" with the original's converter quirks" if settings.get("coco_compat") else "")
        )
        for name, value in zip(coco["stat_names"], coco["stats"]):
            lines.append(f"  {name:<12} {value:.4f}")
        lines.append(f"  {'class':<{width}}  {'AP':>7}  {'AP50':>7}")
        for name in names:
            if coco["ap"].get(name) is not None:
                lines.append(
                    f"  {name:<{width}}  {coco['ap'][name] * 100:6.2f}%  "
                    f"{coco['ap50'][name] * 100:6.2f}%"
                )
    problems = results.get("input_report", {}).get("messages", [])
    if problems:
        lines.append("")
        lines.append("Input notes:")
        lines.extend("  " + p for p in problems)
    return "\n".join(lines)
