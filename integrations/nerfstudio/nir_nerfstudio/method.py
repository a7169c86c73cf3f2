"""The ``nir-kmeans-nerf`` method, registered with nerfstudio through the ``nerfstudio.method_configs`` entry point:
``ns-train nir-kmeans-nerf --data BLENDER_FOLDER [--pipeline.model.quantiser minmax --pipeline.model.bits 5]``."""
from __future__ import annotations

from nerfstudio.configs.base_config import LoggingConfig
from nerfstudio.data.datamanagers.base_datamanager import VanillaDataManagerConfig
from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification

from .model import NirNeRFModelConfig

STEPS = 5000
"""Default training length: a CPU budget, like `nir-studio nerf train`'s default."""

nir_kmeans_nerf = MethodSpecification(
    config=TrainerConfig(
        method_name="nir-kmeans-nerf",
        steps_per_eval_batch=500,
        steps_per_eval_image=1000,
        steps_per_save=500,
        max_num_iterations=STEPS,
        mixed_precision=False,
        pipeline=VanillaPipelineConfig(
            datamanager=VanillaDataManagerConfig(dataparser=BlenderDataParserConfig(), train_num_rays_per_batch=1024,
                                                 eval_num_rays_per_batch=1024),
            model=NirNeRFModelConfig(eval_num_rays_per_chunk=4096),
        ),
        optimizers={"fields": {"optimizer": AdamOptimizerConfig(lr=5e-4, eps=1e-8),
                               "scheduler": ExponentialDecaySchedulerConfig(lr_final=5e-5, max_steps=STEPS)}},
        vis="tensorboard",
        logging=LoggingConfig(steps_per_log=50),
    ),
    description="NIR Studio: a 4 x 64 NeRF trained quantisation-aware (K-means, 3 bits by default), exported with "
                "nir-ns-export as a .nirz that `nir-studio nerf render` loads.",
)
