"""`make mutation`: mutation testing of the statistical core with mutmut; per-module scores and the surviving
mutants in bench/results/mutation.json. Not part of `make test` (it takes about an hour on 2 cores).

    .venv/bin/python bench/mutation.py [--module splits ...] [--max-children 2] [--report-only]

Each module of the core is a set of mutant-name patterns; a module with more than `--sample` mutants is
sampled (every k-th mutant by name) so that the whole run stays near an hour on 2 cores, and
`checked` says how many of its `mutants` ran. (mutmut names a mutant `<module>.x_<function>__mutmut_<n>`
or `<module>.xǁ<Class>ǁ<method>__mutmut_<n>`); mutmut runs, for each mutant, the unit tests that call the mutated
function (tests/unit/{training,models,backtest,monitoring}, pyproject [tool.mutmut]) and a mutant counts as
killed when one of them fails or times out. Survivors are listed with their diff, and
bench/mutation_equivalent.json gives the reason each survivor kept on purpose cannot change behaviour.

mutmut keeps every verdict under mutants/, so modules can be run one at a time (`--module X --sample 60`)
and `--report-only` then summarises all of them. Workers are forked from a clean server process
(pyproject: process_isolation = "forkserver"): forked from mutmut's main process, which has run the suite,
they hung in the tests that fit CatBoost/LightGBM models and would have counted as timeouts, i.e. killed.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")

MODULES: dict[str, list[str]] = {
    "splits": ["training.splits.*"],
    "metrics": ["models.metrics.*"],
    "calibration": ["models.signals.x_fit_calibrator*", "models.signals.xǁCalibratorǁpredict*",
                    "training.signals.x_compute_calibrator_choice*", "monitoring.calibration.*"],
    "promotion gate": ["training.promotion.x_compute_signal_promotion*", "training.promotion.x_compute_regime_promotion*",
                       "training.promotion.x_compute_forecast_promotion*", "training.promotion.x_compute_signal_skill*",
                       "training.promotion.x_compute_regime_skill*", "training.promotion.xǁSignalSkillǁ*",
                       "training.promotion.xǁRegimeSkillǁ*", "training.promotion.x__z*",
                       "training.signals.x_compute_suspicion*", "training.signals.x_compute_skill_ceiling*"],
    "backtest metrics and bootstrap": ["backtest.metrics.*"],
    "conformal": ["models.forecasts.x_compute_rolling_conformal*", "models.forecasts.x_rearrange_quantiles*",
                  "models.forecasts.x_conformal_window*", "models.forecasts.x__coverage*"],
    "VaR tests": ["models.risk.x__xlogy*", "models.risk.x_kupiec_pof*", "models.risk.x_transition_counts*",
                  "models.risk.x_christoffersen_*", "models.risk.x_basel_zone*", "models.risk.x_compute_var_backtest*"],
    "regime filter": ["models.regimes.x_compute_filtered_probabilities*", "models.regimes.x_compute_hysteresis*",
                      "models.regimes.x_fit_vol_thresholds*", "models.regimes.x_compute_vol_threshold_states*",
                      "models.regimes.x_compute_vol_rule_log_density*"],
    "dependence-aware monitoring": ["monitoring.dependence.*"],
}
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          37: "caught by type check", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          None: "not checked"}


def _results() -> dict[str, int | None]:
    """Every mutant's exit code from mutmut's .meta files under mutants/."""
    out: dict[str, int | None] = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        out.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return out


def _module_of(name: str) -> str | None:
    return next((m for m, pats in MODULES.items() if any(fnmatch.fnmatch(name, p) for p in pats)), None)


def _diff(name: str) -> str:
    res = subprocess.run([str(MUTMUT), "show", name], cwd=ROOT, capture_output=True, text=True)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))]
    return "\n".join(lines)[:600]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", action="append", choices=sorted(MODULES), help="default: every module")
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument("--sample", type=int, default=150,
                    help="at most this many mutants per module, every k-th by name (0 = all): keeps the run near an hour")
    ap.add_argument("--full", action="append", default=[], choices=sorted(MODULES),
                    help="run every mutant of this module (no sampling)")
    ap.add_argument("--report-only", action="store_true", help="summarise the stored results, run nothing")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "mutation.json")
    args = ap.parse_args()
    modules = args.module or list(MODULES)
    t0 = time.perf_counter()
    if not args.report_only:
        if not (ROOT / "mutants").exists():  # mutmut generates every mutant first; then pick the sample
            subprocess.run([str(MUTMUT), "run", "nothing-matches-this"], cwd=ROOT, capture_output=True, check=False)
        names = sorted(_results())
        patterns = []
        for m in modules:
            mine = [n for n in names if _module_of(n) == m]
            step = max(1, -(-len(mine) // args.sample)) if args.sample and m not in args.full else 1
            patterns += mine[::step] if mine else MODULES[m]
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
        subprocess.run([str(MUTMUT), "run", *patterns, "--max-children", str(args.max_children)], cwd=ROOT, env=env,
                       check=False)
    known = ROOT / "bench" / "mutation_equivalent.json"
    equivalent = json.loads(known.read_text()) if known.exists() else {}
    per: dict[str, dict] = {m: {"mutants": 0, "killed": 0, "timeout": 0, "survived": [], "no_tests": [],
                                "not_checked": 0} for m in MODULES}
    for name, code in sorted(_results().items()):
        module = _module_of(name)
        if module is None or module not in modules:
            continue
        row = per[module]
        status = STATUS.get(code, "suspicious")
        row["mutants"] += 1
        if status in ("killed", "caught by type check"):
            row["killed"] += 1
        elif status == "timeout":
            row["timeout"] += 1
        elif status == "not checked":
            row["not_checked"] += 1
        elif status in ("survived", "no tests", "suspicious"):
            row["survived" if status != "no tests" else "no_tests"].append(name)
    summary = {}
    for module, row in per.items():
        if module not in modules:
            continue
        checked = row["mutants"] - row["not_checked"]
        equiv = [n for n in row["survived"] + row["no_tests"] if n in equivalent]
        live = [n for n in row["survived"] + row["no_tests"] if n not in equivalent]
        denominator = checked - len(equiv)
        summary[module] = {
            "patterns": MODULES[module], "mutants": row["mutants"], "checked": checked, "killed": row["killed"],
            "timeout": row["timeout"], "equivalent": len(equiv), "surviving": len(live),
            "score": round((row["killed"] + row["timeout"]) / denominator, 4) if denominator > 0 else None,
            "survivors": [{"mutant": n, "diff": _diff(n)} for n in live],
            "equivalent_mutants": [{"mutant": n, "why": equivalent[n]} for n in equiv],
        }
    killed = sum(s["killed"] + s["timeout"] for s in summary.values())
    denominator = sum(s["checked"] - s["equivalent"] for s in summary.values())
    out = {"tool": "mutmut 3.8.0", "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                              "load_avg": os.getloadavg()},
           **({} if args.report_only else {"seconds": round(time.perf_counter() - t0, 1)}),
           "score": round(killed / denominator, 4) if denominator else None, "modules": summary,
           "mode": "report of the stored verdicts" if args.report_only else f"run of {', '.join(modules)}",
           "note": "score = (killed + timeout) / (checked - equivalent), per module over the `checked` mutants "
                   "(those with a verdict: the sample run, every k-th of the module's `mutants` by name); "
                   "equivalent mutants are argued in bench/mutation_equivalent.json; `surviving` are live "
                   "mutants no test kills"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    for module, s in summary.items():
        print(f"{module:32s} {s['killed'] + s['timeout']:5d} / {s['checked'] - s['equivalent']:5d}  score {s['score']}"
              f"  surviving {s['surviving']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
