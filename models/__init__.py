"""The pure model core: what each of Foresight's three models *is*, written once.

- `models.signals`: the booster families behind one interface, the calibrator, `SignalModel`, scoring
  with TreeSHAP attribution (`compute_signal_scores`).
- `models.regimes`: regime parameters and fits, the walk-forward schedule, the causal forward filter,
  hysteresis and the regime frame (`compute_regime_frame`).
- `models.forecasts`: the forecast candidates (learned and baselines), quantiles, rolling conformal
  calibration and the forecast bundle (`compute_forecast_quantiles`).
- `models.metrics` and `models.risk`: one definition each of log-loss, Brier, ECE, reliability, pinball,
  PIT, drawdown and the VaR tests.

The trainer's evaluation, the nightly scorer and the registered MLflow pyfunc all call this code, so what
is registered is what is served. It imports no other project package and no prefect, mlflow, pymongo or
fastapi; nothing runs on import.
"""
