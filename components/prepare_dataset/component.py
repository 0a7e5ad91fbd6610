"""Prepare step: loads and checks the dataset, records the augmentation policy (applied on the
fly by every training task), writes the Dataset artifact every candidate trains on."""

from kfp.dsl import Dataset, Output


def prepare_dataset(dataset_config: str, augmentation: str, dataset: Output[Dataset]):
    """Loads `dataset_config` (digits, a tfds name or an image folder) into a Dataset artifact.

    Args:
        dataset_config: the `dataset` section of an AdaNAS config, as JSON.
        augmentation: the `augmentation` section, as JSON; recorded in the artifact and applied
            on the fly by every training task.
        dataset: train/validation/test arrays plus meta.json.
    """
    from adanas import config, data

    meta = data.prepare_step(config.section_from_json("dataset", dataset_config),
                             config.section_from_json("augmentation", augmentation), dataset.path)
    dataset.metadata.update({k: meta[k] for k in ("num_classes", "image_shape", "splits")})
