"""One training engine for every task and architecture (:func:`train`), its configs and its data."""
from . import context_task  # noqa: E402,F401  (registers the "context" task)
from .config import DataConfig, TrainConfig, apply_overrides
from .data import FileSource, SceneSamplingConfig, SyntheticRoomSource, UDFSceneDataset
from .engine import TrainHooks, train, validate
from .tasks import TASKS, Task, TaskSpec, register_task

__all__ = ["DataConfig", "FileSource", "SceneSamplingConfig", "SyntheticRoomSource", "TASKS", "Task", "TaskSpec",
           "TrainConfig", "TrainHooks", "UDFSceneDataset", "apply_overrides", "register_task", "train", "validate"]
