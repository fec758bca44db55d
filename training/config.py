"""Settings of the signal, regime and forecast trainers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class SignalTrainingSettings(BaseModel):
    """Signal-model training: horizon, walk-forward layout, tuning budget, promotion margin."""

    model_config = ConfigDict(frozen=True)

    horizon: int = 5
    n_folds: int = 4
    embargo_sessions: int = 5
    holdout_fraction: float = 0.15
    calibration_fraction: float = 0.15
    trials: int = 20
    timeout_s: float | None = None
    seed: int = 42
    promotion_margin: float = 0.0005
    """The new version must beat the champion's holdout log-loss by at least this much."""
    promotion_ece_tolerance: float = 0.0
    """...and its holdout ECE may exceed the champion's by at most this much ("no worse calibration")."""
    feature_set: str | None = None
    """None = the feature store's configured set (FeatureSettings.feature_set)."""
    entry_lag: int | None = None
    """None = FeatureSettings.entry_lag; purge between train and test = horizon + entry_lag sessions."""
    families: tuple[str, ...] = ("lightgbm", "catboost")
    """Model families the Optuna study may choose from."""
    max_rounds: int = 400
    """Upper bound of boosting rounds searched (small trees, shrunk learning rate)."""
    ece_bins: int = 15
    skill_z: float = 2.0
    """Promotion needs skill: holdout AUC above 0.5 and log-loss below the no-skill base rates by at least this
    many date-clustered standard errors (training.promotion.SignalSkill)."""
    suspicion_auc: float = 0.55
    """Real data: a holdout AUC above this is suspect (daily equity returns do not give more)."""
    suspicion_rank_ic: float = 0.10
    """Real data: a mean daily rank IC above this is suspect."""
    suspicion_z: float = 3.0
    """Sample data: suspect above the planted signal's oracle skill plus this many standard errors."""
    leak_tolerance: float = 1e-6
    """Leak control: the refit on market data cut after the model's windows may move a raw score or a
    probability by at most this much (same data and seeds give the same model to float precision)."""
    control_se_limit: float = 3.0
    """Shuffled-label control passes when |AUC - 0.5| <= this many standard errors."""
    control_shuffles: int = 5
    """Independent label shuffles averaged by the control."""
    min_fold_rows: int = 500
    study_name: str | None = None
    """None = `signals-h{horizon}-{feature_set}-{data fingerprint}`: a study resumes from its RDB on the same data."""
    n_jobs: int = 0
    """Threads per booster, 0 = every core (tuning, refit and scoring run one booster at a time)."""
    cs_rank: bool = True
    """Feed the booster each feature's cross-sectional percentile rank per date (Qlib's CSRankNorm)."""


class RegimeSettings(BaseModel):
    """Regime model: number of states, candidate models, starts, hysteresis, baseline, promotion."""

    model_config = ConfigDict(frozen=True)

    n_states: int | None = None
    """None = choose 2 or 3 by BIC."""
    candidate_states: tuple[int, ...] = (2, 3)
    models: tuple[str, ...] = ("hmm", "markov")
    """Fitted families: `hmm` (hmmlearn GaussianHMM) and `markov` (statsmodels MarkovRegression with
    switching variance, started from the best HMM solution); the best likelihood per state count wins."""
    benchmark_symbol: str | None = None
    """None = the universe's equal-weight daily return."""
    vol_window: int = 21
    """Sessions in the trailing realised-volatility window (the baseline rule's input)."""
    enter_threshold: float = 0.7
    leave_threshold: float = 0.3
    n_starts: int = 5
    seed: int = 11
    holdout_fraction: float = 0.2
    """The last fraction of history is held out for out-of-sample log-likelihood and accuracy."""
    refit_full: bool = True
    """After evaluation, refit on all history up to the refit date (the registered parameters)."""
    promotion_margin: float = 0.0
    """The new version must beat the champion's holdout log-likelihood per session by this much."""
    skill_z: float = 2.0
    """...and every champion must beat the volatility rule's holdout predictive log-density by this many
    (Newey-West) standard errors (training.promotion.RegimeSkill)."""
    mongo_batch_size: int = 500
    walk_forward: bool = True
    """Also fit an expanding-window schedule (HMM, same state count, labels matched to the final fit) so
    history is scored causally: the row of day t uses parameters fitted on sessions before t only."""
    walk_forward_min_sessions: int = 504
    """First refit after this many sessions; earlier days are scored with it and flagged in_sample."""
    walk_forward_every: int = 252


class OptunaSettings(BaseModel):
    """Where Optuna studies live: a sqlite file under FORESIGHT_HOME by default, or a shared RDB."""

    model_config = ConfigDict(frozen=True)

    storage: SecretStr | None = None
    """An SQLAlchemy URL every trial process can reach, e.g. `postgresql+psycopg://user:pw@db:5432/optuna`
    (a secret: it carries the password). None = `sqlite:///FORESIGHT_HOME/optuna/signals.db`."""
