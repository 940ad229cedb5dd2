"""The tracking interface the training loop reports to; MLflow plugs in here (tracking.py)."""

from __future__ import annotations

from typing import Any, Protocol


class TrainingCallback(Protocol):
    def on_train_start(self, config: dict[str, Any]) -> None: ...

    def on_metrics(self, step: int, metrics: dict[str, float]) -> None: ...

    def on_train_end(self, status: str) -> None: ...


class NoTracking:
    """The default: training works with tracking switched off."""

    def on_train_start(self, config: dict[str, Any]) -> None:
        pass

    def on_metrics(self, step: int, metrics: dict[str, float]) -> None:
        pass

    def on_train_end(self, status: str) -> None:
        pass


class MetricsRecorder(NoTracking):
    """Keeps every reported metric in memory (tests, and the training curve in openparts.json)."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self.status: str | None = None

    def on_metrics(self, step: int, metrics: dict[str, float]) -> None:
        self.history.append({"step": step, **metrics})

    def on_train_end(self, status: str) -> None:
        self.status = status
