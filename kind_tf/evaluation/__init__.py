"""The evaluation behind ``evaluate.py``: methods × images → per-image metrics, summaries and grids.

One job per module:

- :mod:`~kind_tf.evaluation.protocols`: the methods under evaluation (registered methods and baselines),
  their ratio protocols (fixed, auto, gt-mean) and weights, as :class:`Run` objects; :class:`EvaluationError`;
- :mod:`~kind_tf.evaluation.metrics`: what is measured per image, what each number means, brightness bands;
- :mod:`~kind_tf.evaluation.runner`: finding and checking the data, running every method on every image
  (:func:`evaluate`) and the whole job (:func:`run_evaluation`);
- :mod:`~kind_tf.evaluation.reports`: per_image.csv, summary.json and summary.md;
- :mod:`~kind_tf.evaluation.grids`: the comparison grids.

The command line (options, ``error:`` lines, exit codes) is :mod:`kind_tf.cli.evaluate`.
"""

from kind_tf.evaluation.grids import GRID_TILE_SIZE, comparison_grid
from kind_tf.evaluation.metrics import (
    BANDS,
    FULL_REFERENCE,
    METRIC_INFO,
    NO_REFERENCE,
    REFERENCE_METRICS,
    SSIM_MIN_SIZE,
    band_of,
    image_metrics,
    niqe_or_nan,
    reference_metrics,
)
from kind_tf.evaluation.protocols import (
    AUTO,
    DEFAULT_RATIO,
    FIXED,
    GT_MEAN,
    LEARNED_METHODS,
    METHODS,
    MIN_MEAN_ILLUMINATION,
    NO_RATIO,
    RATIO_METHODS,
    EvaluationError,
    Run,
    default_protocol,
    default_weights,
    gt_mean_ratio,
    learned_methods,
    load_method,
    make_runs,
    mean_illumination,
    method_choices,
    parse_methods,
    parse_ratio_protocols,
    parse_weights,
    ratio_methods,
    split_list,
)
from kind_tf.evaluation.reports import (
    CSV_FLOAT_FORMATS,
    band_stats,
    band_table,
    csv_columns,
    environment,
    markdown_table,
    per_image_csv,
    summarize,
    summarize_references,
    summary_json,
    summary_markdown,
    write_reports,
)
from kind_tf.evaluation.runner import (
    DEFAULT_GRID,
    Evaluation,
    Sample,
    check_samples,
    evaluate,
    find_samples,
    run_evaluation,
)

__all__ = [
    "AUTO", "BANDS", "CSV_FLOAT_FORMATS", "DEFAULT_GRID", "DEFAULT_RATIO", "FIXED", "FULL_REFERENCE", "GRID_TILE_SIZE",
    "GT_MEAN", "LEARNED_METHODS", "METHODS", "METRIC_INFO", "MIN_MEAN_ILLUMINATION", "NO_RATIO", "NO_REFERENCE",
    "RATIO_METHODS", "REFERENCE_METRICS", "SSIM_MIN_SIZE", "Evaluation", "EvaluationError", "Run", "Sample",
    "band_of", "band_stats", "band_table", "check_samples", "comparison_grid", "csv_columns", "default_protocol",
    "default_weights", "environment", "evaluate", "find_samples", "gt_mean_ratio", "image_metrics",
    "learned_methods", "load_method", "make_runs", "markdown_table", "mean_illumination", "method_choices",
    "niqe_or_nan", "parse_methods", "parse_ratio_protocols", "parse_weights", "per_image_csv", "ratio_methods",
    "reference_metrics", "run_evaluation", "split_list", "summarize", "summarize_references", "summary_json",
    "summary_markdown", "write_reports",
]
