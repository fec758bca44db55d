"""Typed settings for the whole system, built once in the composition root and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from backtest.config import BacktestSettings
from features.config import FeatureSettings
from marketdata.config import AlphaVantageSettings, GuardrailSettings, SampleSettings
from models.forecasts import ForecastSettings
from monitoring.config import MonitoringSettings
from registry.config import MLflowSettings
from scoring.config import ScoringSettings
from stores.config import MongoSettings
from training.config import RegimeSettings, SignalTrainingSettings


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
    backtest: BacktestSettings = BacktestSettings()

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
        """Settings safe to print: secrets masked by SecretStr."""
        return self.model_dump(mode="json")
