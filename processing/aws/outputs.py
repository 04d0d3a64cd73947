"""Outputs of Fargate tasks: the same publisher as locally, with the task's provenance added
(task ARN, task definition revision, image digest, size, start and stop times)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from objectstore import ObjectStore
from processing.aws.history import EcsTask
from processing.outputs import OutputFile, OutputPublisher, Provenance

__all__ = ["AwsOutputPublisher", "aws_provenance"]


def aws_provenance(task: EcsTask, cpu: int, memory: int) -> dict[str, Any]:
    """The ``stacworks:aws`` property of an output item."""
    return {
        "processing:facility": "AWS Step Functions + ECS Fargate",
        "stacworks:aws": {
            "task_arn": task.task_arn,
            "task_definition": task.task_definition,
            "task_definition_revision": (int(task.task_definition.rsplit(":", 1)[1])
                                         if task.task_definition.rsplit(":", 1)[-1].isdigit()
                                         else None),
            "image_digest": task.image_digest,
            "cpu": cpu,
            "memory": memory,
            "started": task.started_at.isoformat() if task.started_at else None,
            "stopped": task.stopped_at.isoformat() if task.stopped_at else None,
        },
    }


class AwsOutputPublisher(OutputPublisher):
    """An :class:`OutputPublisher` adding fixed properties to every item it registers."""

    def __init__(self, store: ObjectStore, dsn: str, extra: Mapping[str, Any]) -> None:
        super().__init__(store, dsn)
        self.extra = dict(extra)

    def _item(self, item_id: str, outs: list[OutputFile], inputs: Sequence[Any],
              prov: Provenance) -> dict[str, Any]:
        item = super()._item(item_id, outs, inputs, prov)
        item["properties"].update(self.extra)
        return item
