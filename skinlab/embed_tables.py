"""README table from metrics/embed.json (a kind of skinlab.report)."""
from __future__ import annotations

from pathlib import Path

from skinlab import io
from skinlab.embed_plots import NAMES
from skinlab.params import EMBED_METHODS, EMBED_REPRESENTATIONS


def _f(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def embed_table(root: Path) -> str:
    """Per (representation, method): trustworthiness, 2-D k-NN accuracy and balanced accuracy,
    silhouette by class, the same by skin tone, seconds; then the full-space k-NN and chance."""
    result = io.read_json(Path(root) / "metrics" / "embed.json")
    lines = ["| representation | map | trustworthiness | k-NN acc. (2-D) | k-NN bal. acc. (2-D) | silhouette, class "
             "| k-NN acc., skin tone | k-NN bal. acc., skin tone | silhouette, skin tone | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rep in (r for r in EMBED_REPRESENTATIONS if r in result["projections"]):
        methods = result["projections"][rep]
        full = result["representations"][rep]
        lines.append(f"| {NAMES[rep]} ({full['dim']}-D) | full space | | {_f(full['knn_accuracy_full'])} "
                     f"| {_f(full['knn_balanced_accuracy_full'])} | | | | | |")
        for method in (m for m in EMBED_METHODS if m in methods):
            s = methods[method]
            lines.append(f"| | {NAMES[method]} | {_f(s['trustworthiness'])} | {_f(s['knn_accuracy'])} "
                         f"| {_f(s['knn_balanced_accuracy'])} | {_f(s['silhouette_class'])} "
                         f"| {_f(s['knn_accuracy_skin_tone'])} | {_f(s['knn_balanced_accuracy_skin_tone'])} | {_f(s['silhouette_skin_tone'])} | {_f(s['seconds'], 1)} |")
    chance = result["chance"]
    lines.append(f"| chance (majority share; 1 / groups for bal. acc.) | | | {_f(chance['class'])} | {_f(chance['balanced'])} | | {_f(chance['skin_tone'])} | {_f(chance['skin_tone_balanced'])} | | |")
    return "\n".join(lines)


KINDS = {"embed": embed_table}
