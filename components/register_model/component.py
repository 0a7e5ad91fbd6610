"""Register step (vertex target only): the exported ensemble's SavedModel into Vertex AI Model
Registry, optionally deployed to a new endpoint."""

from kfp.dsl import Artifact, Input, Model, Output

from components.glue import VertexModel


def register_model(export: str, pipeline_name: str, exported_model: Input[Model],
                   report: Input[Artifact], registered_model: Output[VertexModel],
                   project: str, location: str, pipeline_job: str, api_endpoint: str = ""):
    """Uploads exported_model's saved_model/ as a Vertex AI Model (or a new version of
    export.model_registry.parent_model), labelled with the run and its test error; with
    export.endpoint, creates an endpoint and deploys it there.

    Args:
        export: the `export` section of an AdaNAS config, as JSON (model_registry, endpoint).
        pipeline_name: the model's display name unless model_registry.display_name is set.
        exported_model: the evaluate step's exported model (its gs:// URI is uploaded).
        report: the evaluate step's report (the test error for the labels and description).
        registered_model: google.VertexModel: metadata resourceName (MODEL@VERSION), uri the
            model's REST URL; with an endpoint also endpoint and deployedModelId.
        project: the run's project ({{$.pipeline_google_cloud_project_id}}).
        location: the run's region ({{$.pipeline_google_cloud_location}}).
        pipeline_job: the run's name ({{$.pipeline_job_name}}), the adanas_run label.
        api_endpoint: tests only: a stand-in of the Vertex AI API.
    """
    from adanas import config, registry

    cfg = config.section_from_json("export", export)
    result = registry.register_step(exported_model.uri, report.path, cfg.model_registry,
                                    cfg.endpoint, project, location, pipeline_job, pipeline_name,
                                    api_endpoint=api_endpoint or None)
    registered_model.uri = result["uri"]
    registered_model.metadata.update(result)
