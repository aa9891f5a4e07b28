"""benchmarks/run.py's report: every "vs original" figure is a same-run ratio, and every result names its machine.

Pure table logic on synthetic rows (fast, no TensorFlow): the measurements themselves are benchmarks/run.py's.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

RUN_PY = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("kind_tf_benchmark_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(model, case, variant, median, measured=None, precision="float32", **extra):
    return {"section": "inference", "model": model, "case": case, "variant": variant, "precision": precision,
            "jit": False, "measured_size": measured or case, "median_s": median, "min_s": median,
            "peak_rss_mb": 900.0, **extra}


def _report(rows, machine=None):
    machine = machine or {"cpu": "AMD EPYC", "logical_cores": 2, "physical_cores": 2, "python": "3.11",
                          "tensorflow": "2.21.0", "keras": "3.15.1", "onednn": "default (on)",
                          "isa": {flag: flag in ("avx2", "fma") for flag in
                                  ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile",
                                   "avx512_vnni", "avx_vnni")},
                          "gemm": {"gemm_size": 1024, "float32": {"gflops_per_s": 41.0},
                                   "bfloat16": {"gflops_per_s": 26.0}}}
    return {"mode": "quick", "rows": rows, "machine": machine, "ceiling": None,
            "shared_before": {"loadavg": [3.5, 0, 0], "time": "t0", "training_running": []},
            "shared_after": {"loadavg": [3.9, 0, 0], "time": "t1", "training_running": []}}


def test_no_stored_reference_figures(bench):
    assert not hasattr(bench, "TF1_KIND") and not hasattr(bench, "PYTORCH_ZERO_DCE")
    source = RUN_PY.read_text()
    assert "0.295" not in source and "unreachable" not in source and "out of reach" not in source


def test_vs_original_is_the_same_run_ratio(bench):
    rows = [_row("kind", "600x400", "original", 1.0, stages={}), _row("kind", "600x400", "eager", 1.2),
            _row("kind", "600x400", "graph", 0.5), _row("kind", "600x400", "graph", 2.0, precision="bfloat16"),
            {"section": "inference", "model": "zero_dce", "case": "600x400", "variant": "original",
             "precision": "float32", "jit": False, "measured_size": "600x400",
             "error": "not measured: torch is not importable here"},
            _row("zero_dce", "600x400", "graph", 0.005)]
    table = "\n".join(bench.inference_table(_report(rows), bench.QUICK))
    ours = ("| KinD | 600x400 (600x400) | graph float32 | 500.0 ms | 500.0 ms | 2.40× faster |  | 900 MB | "
            "2.00× faster |")
    assert ours in table
    assert "0.50× (slower)" in table                                      # bfloat16 slower than the original
    assert "original PyTorch | not measured: torch is not importable here" in table
    assert table.rstrip().endswith("| 900 MB | not measured |")          # Zero-DCE++ has no ratio at all


def test_original_at_a_smaller_size_is_scaled_and_says_so(bench):
    rows = [_row("kind", "4000x3000", "original", 1.0, measured="2000x1500"),
            _row("kind", "4000x3000", "graph", 2.0, measured="4000x3000")]
    table = "\n".join(bench.inference_table(_report(rows), bench.FULL))
    assert "2.00× faster (scaled from 2000x1500)" in table


def test_targets_compare_with_the_same_run_original_only(bench):
    rows = [_row("kind", "600x400", "original", 1.0), _row("kind", "600x400", "graph", 0.5)]
    targets = bench.evaluate_targets(_report(rows), bench.QUICK)
    names = [t["target"] for t in targets]
    assert "KinD float32 600x400 no slower than the original TF1 graph (same run)" in names
    assert not any("bfloat16 600x400 no slower" in name for name in names)   # not measured: no target


def test_original_with_frozen_weights_is_its_own_row_and_figure(bench):
    """kind-tf's inference processes set TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1; the original with the same setting is
    a row of its own, our float32 row names both ratios, and the target stays the original as released."""
    rows = [_row("kind", "600x400", "original", 0.54), _row("kind", "600x400", "original_frozen", 0.49),
            _row("kind", "600x400", "graph", 0.50)]
    table = "\n".join(bench.inference_table(_report(rows), bench.QUICK))
    assert "| original TF1 graph, TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1 (as kind-tf's) | 490.0 ms |" in table
    assert "| 1.08× faster; 0.98× the original with TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1 |" in table
    targets = {t["target"]: t for t in bench.evaluate_targets(_report(rows), bench.QUICK)}
    assert targets["KinD float32 600x400 no slower than the original TF1 graph (same run)"]["met"]
    same_setting = [t for name, t in targets.items() if "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1 too" in name]
    assert len(same_setting) == 1 and not same_setting[0]["met"] and same_setting[0]["detail"].endswith("0.98×")


def test_bf16_speedup_target_only_where_the_cpu_has_bf16_instructions(bench):
    rows = [_row("kind", "600x400", "graph", 1.0), _row("kind", "600x400", "graph", 0.5, precision="bfloat16")]
    avx2 = {t["target"]: t for t in bench.evaluate_targets(_report(rows), bench.QUICK)}
    assert not any("float32 at 600x400" in name for name in avx2)          # emulated bf16: a figure, no target
    amx = _report(rows)
    amx["machine"]["amx_bf16"] = True
    targets = {t["target"]: t for t in bench.evaluate_targets(amx, bench.QUICK)}
    assert targets["KinD bfloat16 ≥ 1.5× float32 at 600x400"] == {
        "target": "KinD bfloat16 ≥ 1.5× float32 at 600x400", "met": True, "detail": "2.00×"}


def test_machine_lines_name_cpu_isa_gemm_versions_and_load(bench):
    text = "\n".join(bench.machine_lines(_report([])))
    for part in ("AMD EPYC", "2 logical / 2 physical", "ISA: avx2, fma (no avx512f", "float32 41 GFLOP/s",
                 "bfloat16 26 GFLOP/s", "Keras 3.15.1", "3.50 at start, 3.90 at end"):
        assert part in text
    old = {"cpu": "Intel(R) Xeon(R) Processor", "logical_cores": 2, "python": "3.11", "tensorflow": "2.21.0",
           "amx_bf16": True, "avx512_bf16": True, "onednn": "default (on)"}
    text = "\n".join(bench.machine_lines(_report([], machine=old)))
    assert "other flags not recorded" in text and "GEMM rates not recorded" in text


def test_auto_ratio_and_memory_rows_and_their_targets(bench):
    """The ratio-auto overhead (same process, alternating runs) and enhance.py's peak RSS in its own processes
    (baseline, one tile's window, whole photo) are tabled and judged against issue 21's limits."""
    report = _report([])
    report.update(total_minutes=5.0, notes=[], threads={"intra_op": None, "inter_op": None}, folder=[], train={},
                  psnr=None)
    report["auto_ratio"] = {"sizes": {
        "512x512": {"size": [512, 512], "fixed_median_s": 2.0, "auto_median_s": 2.1, "overhead": 0.05,
                    "loadavg": 3.0},
        "1200x900": {"size": [900, 1200], "fixed_median_s": 10.0, "auto_median_s": 11.5, "overhead": 0.15,
                     "loadavg": 3.0}}}
    report["memory"] = {"tile": 800, "max_memory_mb": 1500.0, "arrays_mb": 206.0,
                        "baseline": {"size": [64, 64], "peak_rss_mb": 870.0},
                        "window": {"size": [1120, 1120], "peak_rss_mb": 1710.0},
                        "total": {"size": [3000, 4000], "peak_rss_mb": 1950.0}}
    targets = {t["target"]: t for t in bench.evaluate_targets(report, bench.FULL)}
    assert targets["ratio auto ≤ 10 % over a fixed ratio at 512x512 (same run)"]["met"] is True
    assert targets["ratio auto ≤ 10 % over a fixed ratio at 1200x900 (same run)"]["met"] is False
    assert targets["enhance.py 4000x3000 float32 peak RSS ≤ 2000 MB"]["detail"] == "1950 MB"
    assert targets["enhance.py 4000x3000 float32 peak RSS ≤ 2000 MB"]["met"] is True
    markdown = bench.render_markdown({**report, "targets": list(targets.values())}, bench.FULL)
    assert "| 1200x900 (1200×900) | 10.00 s | 11.50 s | +15.0 % | 3.00 |" in markdown
    assert "| one tile's window | 1120×1120 | 1710 MB | +840 MB |" in markdown
    assert "| whole image | 4000×3000 | 1950 MB | +1080 MB |" in markdown


def test_quick_mode_groups_cases_in_one_process(bench, monkeypatch):
    """Quick mode's time goes to process start-up: a section's cases run as one group (one worker call)."""
    calls = []
    monkeypatch.setattr(bench, "run_worker", lambda spec: calls.append(spec) or (
        [{"median_s": 1.0, "case": i} for i, _ in enumerate(spec["specs"])] if spec["kind"] == "group"
        else {"median_s": 2.0}))
    specs = [{"kind": "inference", "intra_op": None, "inter_op": None}] * 3
    assert [r["case"] for r in bench.run_workers(specs, group=True)] == [0, 1, 2] and len(calls) == 1
    assert bench.run_workers(specs, group=False) == [{"median_s": 2.0}] * 3 and len(calls) == 4
    assert bench.QUICK["group"] and not bench.FULL["group"]


def test_skip_leaves_out_named_cases_only(bench):
    """``--skip 4000x3000,kindpp:1200x900`` drops those inference cases (and their XLA rows), nothing else."""
    errors = []
    plan = bench.skip_cases(bench.FULL, ["4000x3000", "kindpp:1200x900"], errors.append)
    assert list(plan["kind_sizes"]) == list(plan["zero_dce_sizes"]) == ["600x400", "1200x900"]
    assert list(plan["kindpp_sizes"]) == ["600x400"] and not errors
    assert list(bench.FULL["kindpp_sizes"]) == ["600x400", "1200x900"]   # the mode's plan is not changed
    plan = bench.skip_cases(bench.FULL, ["zero_dce:1200x900"], errors.append)
    assert plan["jit_cases"] == (("kind", "600x400"),) and list(plan["kind_sizes"]) == list(bench.FULL["kind_sizes"])
    bench.skip_cases(bench.FULL, ["99x9", "foo:600x400"], errors.append)
    assert len(errors) == 2 and "99x9" in errors[0] and "'foo'" in errors[1]
