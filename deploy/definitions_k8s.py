"""The project's Dagster definitions with dagster-k8s's step executor: one pod per step.

Why a separate module: the executor is part of the job, and the project's code location must
stay loadable with no cluster and no dagster-k8s installed. This module imports the same assets,
checks, jobs, schedules, sensors and resources from `pipelines.definitions` and only adds the
executor, so nothing in `pipelines/` changes. Load it as the code location
(`python_module: deploy.definitions_k8s`) and configure the executor with k8s_executor.yaml.
"""

from __future__ import annotations

import dagster as dg
from dagster_k8s import k8s_job_executor

from pipelines.definitions import defs as project_defs

defs = dg.Definitions.merge(project_defs, dg.Definitions(executor=k8s_job_executor))
