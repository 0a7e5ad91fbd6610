"""Prepare step: streams and checks the dataset, records the augmentation policy (applied on the
fly by every training task), writes the sharded Dataset artifact every candidate trains on."""

from kfp.dsl import HTML, Dataset, Output


def prepare_dataset(dataset_config: str, augmentation: str, dataset: Output[Dataset],
                    preview: Output[HTML]):
    """Streams `dataset_config` (digits, a tfds name or an image folder) into a Dataset artifact.

    Args:
        dataset_config: the `dataset` section of an AdaNAS config, as JSON.
        augmentation: the `augmentation` section, as JSON; recorded in the artifact and applied
            on the fly by every training task.
        dataset: train/validation/test as sharded TFRecords (and their labels) plus meta.json,
            with the data checks' report (adanas.artifacts has the format).
        preview: a page of a few training images per class, as stored and under the recorded
            augmentation policy (what training will see), before any training is paid for.
    """
    from adanas import config, data

    meta = data.prepare_step(config.section_from_json("dataset", dataset_config),
                             config.section_from_json("augmentation", augmentation), dataset.path,
                             preview_out=preview.path)
    dataset.metadata.update({k: meta[k] for k in ("num_classes", "image_shape", "splits")})
