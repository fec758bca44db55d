"""Typed settings for the whole system, built once in the composition root and passed down."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from backtest.config import BacktestSettings
from executors.config import ExecutorSettings
from features.config import FeatureSettings
from marketdata.config import AlphaVantageSettings, GuardrailSettings, SampleSettings
from models.forecasts import ForecastSettings
from monitoring.config import MonitoringSettings, OperationsSettings
from registry.config import MLflowSettings, redact_uri
from scoring.config import ScoringSettings
from stores.config import MongoSettings
from training.config import OptunaSettings, RegimeSettings, SignalTrainingSettings

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ApiSettings(BaseModel):
    """The read API's credential. With a token set every route but /health asks for it; without one the API
    only listens on loopback (`foresight api --host 0.0.0.0` refuses to start)."""

    model_config = ConfigDict(frozen=True)

    token: SecretStr | None = None
    """Sent as `Authorization: Bearer <token>` (or as the password of HTTP basic auth, which a browser asks
    for on the dashboard page); compared in constant time."""


def is_loopback(host: str) -> bool:
    """True for hosts only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _PlainEnvSource(PydanticBaseSettingsSource):
    """Honours the conventional variables (MLFLOW_TRACKING_URI, ALPHAVANTAGE_API_KEY, FORESIGHT_MONGODB_URI)."""

    _MAP = {
        "MLFLOW_TRACKING_URI": ("mlflow", "tracking_uri"),
        "ALPHAVANTAGE_API_KEY": ("alphavantage", "api_key"),
        "FORESIGHT_MONGODB_URI": ("mongodb", "uri"),  # the documented name; FORESIGHT_MONGODB__URI also works
    }

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for var, (section, key) in self._MAP.items():
            value = os.environ.get(var)
            if value:
                out.setdefault(section, {})[key] = value
        return out


class Settings(BaseSettings):
    """All of Foresight's configuration. Env prefix FORESIGHT_, nested sections with `__`
    (e.g. FORESIGHT_SAMPLE__N_SYMBOLS=500, FORESIGHT_MONGODB__URI=mongodb://...)."""

    model_config = SettingsConfigDict(
        env_prefix="FORESIGHT_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    home: Path = Field(default=Path(".foresight"), description="local state: warehouse, reports, studies")
    universe: str = "default"
    calendar: str = "XNYS"
    mlflow: MLflowSettings = MLflowSettings()
    mongodb: MongoSettings = MongoSettings()
    alphavantage: AlphaVantageSettings = AlphaVantageSettings()
    sample: SampleSettings = SampleSettings()
    guardrails: GuardrailSettings = GuardrailSettings()
    features: FeatureSettings = FeatureSettings()
    signals: SignalTrainingSettings = SignalTrainingSettings()
    regimes: RegimeSettings = RegimeSettings()
    forecasts: ForecastSettings = ForecastSettings()
    scoring: ScoringSettings = ScoringSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    operations: OperationsSettings = OperationsSettings()
    backtest: BacktestSettings = BacktestSettings()
    executor: ExecutorSettings = ExecutorSettings()
    optuna: OptunaSettings = OptunaSettings()
    api: ApiSettings = ApiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: explicit arguments, then FORESIGHT_*, then the plain conventional names.
        return (init_settings, env_settings, _PlainEnvSource(settings_cls), dotenv_settings, file_secret_settings)

    @property
    def duckdb_path(self) -> Path:
        return self.home / "foresight.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to print: secrets masked by SecretStr, the MLflow URI's user info by `***`."""
        out = self.model_dump(mode="json")
        out["mlflow"]["tracking_uri"] = redact_uri(self.mlflow.tracking_uri)
        return out
